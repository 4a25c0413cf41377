"""Registry domain. Its aggregates arrive with the registry issue; events live in libs/domain/registry."""
