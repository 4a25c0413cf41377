"""Tamper evidence: the Merkle log, signed checkpoints, witnesses, the audit API and its verifiers."""
