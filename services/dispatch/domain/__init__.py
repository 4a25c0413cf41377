"""Dispatch domain. Its aggregates arrive with the dispatch issue; events live in libs/domain/dispatch."""
