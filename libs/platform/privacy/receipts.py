"""Consent receipts: a consent record in the Kantara Consent Receipt v1.1 shape (with the ISO/IEC
TS 27560 status fields), signed with the service's Ed25519 audit key, to hand to the person.

The receipt is derived from the recorded consent events (nothing new is stored); anyone holding
the service's public key (published with its checkpoints) can check it (`verify_receipt`): the
signature covers the receipt context (`tsunagu/receipt/v1\0`) and the canonical JSON of `receipt`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from libs.platform.audit.log import AuditLog
from libs.platform.messaging.cloudevents import canonical
from libs.platform.messaging.signing import RECEIPT, verify_with

METHODS = {"written_signature": "written signature (署名)",
           "oral_after_explanation": "oral, after explanation, recorded by staff (説明の上での了承)"}


def consent_receipt(audit: AuditLog, *, consent_id: str, subject: str, given_at: datetime,
                    withdrawn_at: datetime | None, record: dict, tenant: str,
                    recipients: list[str] | None = None) -> dict:
    """The receipt of one consent from its recorded consent record (libs/domain/consent.py).
    `tenant` stands in for the controller of records upcast from before the record existed;
    `recipients` overrides the record's when they were named later (a dispatch's supporter)."""
    controller = record["controller"] or tenant
    recipients = record["recipients"] if recipients is None else recipients
    items = [c["category"] for c in record["pii_categories"]]
    sensitive = [c["category"] for c in record["pii_categories"] if c["sensitive"]]
    receipt: dict[str, Any] = {
        "version": "KI-CR-v1.1.0",
        "schema": f"{record['schema']} (fields) / Kantara Consent Receipt v1.1 (shape)",
        "jurisdiction": record["jurisdiction"],
        "consentReceiptID": consent_id,
        "consentTimestamp": int(given_at.timestamp()),
        "collectionMethod": METHODS.get(record["method"], record["method"]),
        "language": "ja",
        "piiPrincipalId": subject,  # pseudonymous
        "givenBy": record["given_by"],  # 本人 or 法定代理人
        "piiControllers": [{"piiController": controller, "jurisdiction": record["jurisdiction"]}],
        "noticeVersion": record["notice_version"],
        "services": [{"service": audit.service, "purposes": [{
            "purpose": p, "consentType": "EXPLICIT", "piiCategory": items, "primaryPurpose": i == 0,
            "termination": record["termination"],
            "thirdPartyDisclosure": bool(recipients), "thirdPartyName": recipients,
        } for i, p in enumerate(record["purposes"])]}],
        "sensitive": bool(sensitive),
        "spiCat": sensitive,
        "status": "withdrawn" if withdrawn_at else "active",
        "withdrawnAt": withdrawn_at.isoformat() if withdrawn_at else None,
    }
    return {"receipt": receipt, "alg": "Ed25519", "publicKey": audit.public_key_hex,
            "signature": audit.sign(RECEIPT, canonical(receipt)).hex()}


def verify_receipt(public_key_hex: str, signed: dict) -> bool:
    """Whether a receipt was signed by this key as a receipt (with the receipt context, or bare
    when made before contexts: messaging/signing.py)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        return verify_with([key], bytes.fromhex(signed["signature"]), RECEIPT, canonical(signed["receipt"]))
    except (KeyError, TypeError, ValueError):
        return False
