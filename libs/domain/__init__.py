"""Tsunagu's shared kernel: codes, fiscal years, errors and the event contracts of every context.

Plain Python. It depends on `eventsourcing` for the event base classes only, never on a web
framework, a database driver or NATS.
"""
