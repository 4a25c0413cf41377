"""The consent record every consent event carries: the fields of ISO/IEC TS 27560:2023 (consent
record information structure) and Kantara Consent Receipt v1.1, so a consent is auditable from
the event alone — who controls the data (the local government), under which jurisdiction, for
which purposes, which categories of personal data (要配慮個人情報 flagged, APPI 第2条第3項), to
which recipients, how it was given, under which notice, and how it ends.

The record id is the event's `consent_id`, the data subject its aggregate (pseudonymous), the
timestamp its time; the status follows from the withdrawal events (同意の撤回).
"""

from __future__ import annotations

SCHEMA = "ISO/IEC TS 27560:2023"
JURISDICTION = "JP"
SENSITIVE_ITEMS = ("medical_history",)  # 既往歴 = 病歴: 要配慮個人情報
METHODS = ("written_signature", "oral_after_explanation")  # 署名 / 説明の上での了承 (記録)
GIVERS = ("person", "legal_guardian")  # 本人 / 法定代理人


def consent_record(*, controller: str | None, given_by: str, purposes: list[str], items: list[str],
                   recipients: list[str], method: str, notice_version: str, termination: str) -> dict:
    """The record as a plain dict (it travels in the event's data). `controller` is None only for
    records upcast from events older than the record, whose controller is the aggregate's tenant."""
    if given_by not in GIVERS:
        raise ValueError(f"given_by must be one of {GIVERS}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    return {
        "schema": SCHEMA,
        "jurisdiction": JURISDICTION,
        "controller": controller,
        "given_by": given_by,
        "purposes": list(purposes),
        "pii_categories": [{"category": i, "sensitive": i in SENSITIVE_ITEMS} for i in items],
        "recipients": list(recipients),
        "method": method,
        "notice_version": notice_version,
        "termination": termination,
    }
