"""Intake domain: centres and cases. Plain Python; events come from libs/domain/intake."""
