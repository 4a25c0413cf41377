"""Shared plumbing, one copy for all services: settings, database, CloudEvents codec, relay,
consumer runner, auth, problem mapper, PII sealing and the service app factory."""
