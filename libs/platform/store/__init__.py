"""The event store: the eventsourcing Application every service builds on, engines, the log reader."""
