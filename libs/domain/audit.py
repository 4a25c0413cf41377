"""Event contracts every service records about itself: access to personal data for audit, and
the jurisdiction that bounds every auditor (SECURITY.md).

An auditor may open sealed fields only with the role that grants it (auditor_pii), inside their
jurisdiction, and for a purpose chosen from PURPOSES; each such access is itself an event in the
service's log (and so on its stream and in its Merkle tree), naming who, which purpose code and
which events were opened — never the data. A free-text note may say more; it is sealed, so it is
never in clear on the bus (staff write 「〇〇本人からの開示請求（電話…）」: personal data itself).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from eventsourcing.domain import Aggregate

from libs.domain.codes import InvalidLgCode, is_prefecture, prefecture_of, validate_lg_code
from libs.domain.contracts import Contract

CONTEXT = "audit"
# The tenant of records that belong to no local government, and the org of national auditors
# (個人情報保護委員会, the ministry's inspectors): their jurisdiction is the whole nation.
NATIONAL = "000000"

# Why an auditor opens personal data (開示等の目的). "other" is what an access recorded before the
# code list reads as (PersonalDataAccessed v1), and may be chosen with a note saying what.
PurposeCode = Literal["disclosure_request", "correction_request", "suspension_request", "complaint_investigation",
                      "legal_inquiry", "internal_audit", "incident_response", "supervisory_inspection",
                      "roster_received", "other"]
PURPOSES: dict[str, str] = {
    "disclosure_request": "本人からの開示請求への対応 (個人情報保護法 第33条)",
    "correction_request": "本人からの訂正等請求への対応 (第34条)",
    "suspension_request": "本人からの利用停止等請求への対応 (第35条)",
    "complaint_investigation": "苦情の調査",
    "legal_inquiry": "法令に基づく照会への対応 (捜査関係事項照会等)",
    "internal_audit": "内部監査",
    "incident_response": "漏えい等事案への対応 (第26条)",
    "supervisory_inspection": "監督官庁による立入検査・報告徴収への対応",
    "roster_received": "提供を受けた登録名簿の利用 (受領した市町村の職員)",
    "other": "その他 (メモに記載)",
}
AUDITOR_PURPOSES = tuple(c for c in PURPOSES if c != "roster_received")  # what an auditor may choose


def covers(org: str, tenant: str) -> bool:
    """Whether the jurisdiction of `org` contains records of `tenant`: the nation (NATIONAL) all of
    them; a prefecture itself and its municipalities; a municipality itself; anyone else nothing
    (a centre id, a made-up org). Records of NATIONAL belong to the national auditors only."""
    if org == NATIONAL:
        return True
    try:
        validate_lg_code(org)
        if tenant == org:
            return True
        return is_prefecture(org) and tenant != NATIONAL and prefecture_of(tenant) == org
    except InvalidLgCode:
        return False


class PersonalDataAccessed(Contract, Aggregate.Created):
    """Someone opened sealed personal data: an auditor for a purpose, or a municipality's staff
    reading the roster it was given. The note is sealed under the subject opened (erased with them)
    or, when a log range was opened, under the access itself."""

    CONTEXT: ClassVar[str] = CONTEXT
    AGGREGATE: ClassVar[str] = "access"
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)
    # v2: a purpose code and a sealed note instead of the free-text purpose that v1 put on the bus.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    tenant: str  # the jurisdiction whose records were opened
    accessed_by: str
    accessor_org: str
    purpose_code: str
    note: dict | None
    subject: str | None  # the person, when one person's records were opened (開示請求)
    first_sequence: int  # the log range opened; 0 and 0 when the records of `subject` were opened
    last_sequence: int
    accessed_at: datetime

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """v1's free-text purpose is dropped, not sealed: an upcaster holds no keys, and sealing on
        read would not remove the clear text from the stored v1 event or the old stream message
        anyway; carrying it into the current contract would only spread it further."""
        state.pop("purpose", None)
        state["purpose_code"] = "other"
        state["note"] = None


EVENTS: tuple[type[Contract], ...] = (PersonalDataAccessed,)
