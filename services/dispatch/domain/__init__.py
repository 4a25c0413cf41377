"""Dispatch domain: the municipality's roster entries and dispatches.
Plain Python; events come from libs/domain/dispatch."""
