"""Consent receipts: a consent record in the Kantara Consent Receipt v1.1 shape (with the ISO/IEC
TS 27560 status fields), signed with the service's Ed25519 audit key, to hand to the person.

The receipt is derived from the recorded consent events (nothing new is stored); anyone holding
the service's public key (published with its checkpoints) can check it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from libs.platform.auditlog import AuditLog
from libs.platform.cloudevents import canonical

SENSITIVE_ITEMS = {"medical_history"}  # 要配慮個人情報 (APPI 第2条3項: 病歴)


def consent_receipt(audit: AuditLog, *, consent_id: str, subject: str, given_by: str, controller: str,
                    given_at: datetime, withdrawn_at: datetime | None, purposes: list[str], items: list[str],
                    recipients: list[str], notice_version: str, method: str = "written signature (署名)") -> dict:
    receipt: dict[str, Any] = {
        "version": "KI-CR-v1.1.0",
        "schema": "ISO/IEC TS 27560:2023 (fields) / Kantara Consent Receipt v1.1 (shape)",
        "jurisdiction": "JP",
        "consentReceiptID": consent_id,
        "consentTimestamp": int(given_at.timestamp()),
        "collectionMethod": method,
        "language": "ja",
        "piiPrincipalId": subject,  # pseudonymous
        "givenBy": given_by,  # 本人 or 法定代理人
        "piiControllers": [{"piiController": controller, "jurisdiction": "JP"}],
        "noticeVersion": notice_version,
        "services": [{"service": audit.service, "purposes": [{
            "purpose": p, "consentType": "EXPLICIT", "piiCategory": items, "primaryPurpose": i == 0,
            "termination": "until withdrawn (同意の撤回) or the end of the registration/support",
            "thirdPartyDisclosure": bool(recipients), "thirdPartyName": recipients,
        } for i, p in enumerate(purposes)]}],
        "sensitive": bool(SENSITIVE_ITEMS & set(items)),
        "spiCat": sorted(SENSITIVE_ITEMS & set(items)),
        "status": "withdrawn" if withdrawn_at else "active",
        "withdrawnAt": withdrawn_at.isoformat() if withdrawn_at else None,
    }
    return {"receipt": receipt, "alg": "Ed25519", "publicKey": audit.public_key_hex,
            "signature": audit.sign(canonical(receipt)).hex()}
