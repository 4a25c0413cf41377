"""Event contracts of the intake context (ひきこもり地域支援センター and municipal windows)."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from libs.domain import agencies
from libs.domain.consent import consent_record
from libs.domain.contracts import ClientKey, Contract, derived_id, idempotency_digest

CONTEXT = "intake"

CENTRE_KINDS = ("child", "adult")  # 児童 (< 18) / 成人 (≥ 18) centre types
CENTRE_SITES = ("main", "satellite", "window")  # 本所 / サテライト / 市町村の相談窓口
CLIENT_KINDS = ("person", "family", "agency")  # 本人 / 家族 / 関係機関
AGE_GROUPS = ("child", "adult")  # < 18 / ≥ 18
# 電話・来所・メール・訪問・その他
CHANNELS = ("phone", "visit", "email", "outreach", "other")


class _Intake(Contract):
    CONTEXT: ClassVar[str] = CONTEXT


# One base per aggregate names it for all its events (the third token of their NATS subject).
class CentreEvent(_Intake):  # ひきこもり地域支援センター, a satellite or a municipal window
    AGGREGATE = "centre"


class CaseEvent(_Intake):  # 相談ケース of a person, their family or an agency
    AGGREGATE = "case"


class AgencyEvent(_Intake):  # 関係機関 in the directory
    AGGREGATE = "agency"


class RightsRequestEvent(_Intake):  # 開示・訂正・利用停止・消去 request of a person (APPI 第33条〜第35条)
    AGGREGATE = "rightsrequest"


class ProgrammeEvent(_Intake):  # who runs which part of the ひきこもり対策推進事業
    AGGREGATE = "programme"


class PlaceEvent(_Intake):  # 居場所 with its sessions
    AGGREGATE = "place"


class BackupEvent(_Intake):  # 都道府県による市町村の後方支援
    AGGREGATE = "backup"


class CentreRegistered(CentreEvent, Aggregate.Created):
    """ひきこもり地域支援センター registered by its prefecture or designated city (`tenant`).

    v2 added its 開所日 (opening date) and 廃止日 (closing date, for a site registered after it
    closed): reporting counts a centre in each fiscal year it was open. A v1 registration has
    neither (None): reporting then falls back to the profile's 開所年度 or the registration's year.
    v2 also marks a demo centre (`demo`, e.g. `make run`'s): its local government is a demo tenant,
    left out of the national tables (its own prefecture's reports still show it)."""

    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    tenant: str
    name: str
    kind: str
    site: str
    opened_on: date | None
    closed_on: date | None
    demo: bool

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        state["opened_on"] = None
        state["closed_on"] = None
        state["demo"] = False


class CentreDatesChanged(CentreEvent, Aggregate.Event):
    """開所日 set or corrected, or the centre closed (廃止日); closed_on None: open."""

    opened_on: date
    closed_on: date | None


class CaseOpened(CaseEvent, Aggregate.Created):
    """A case (相談ケース) of a person (本人), their family (家族) or a referring agency."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("personal_details",)
    # v2 added the municipality of residence. SCHEMA_VERSION is the published type's version;
    # class_version is eventsourcing's stored version, upcast on read by upcast_v1_v2.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    tenant: str
    centre_id: UUID
    client_kind: str
    age_group: str
    residence_municipality: str | None
    personal_details: dict | None

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """v1 (the Foundation slice) did not record the municipality of residence."""
        state["residence_municipality"] = None


class ConsultationRecorded(CaseEvent, Aggregate.Event):
    """One consultation (相談); every one counts in 延べ相談件数, repeat ones included."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("summary",)
    # v2 records the digest of the client's Idempotency-Key (contracts.idempotency_digest, scoped
    # by the centre), never the key: v1 carried the client's string in clear.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    consultation_id: UUID
    centre_id: UUID
    channel: str
    consulted_by: str
    occurred_at: datetime
    summary: dict | None
    idempotency_digest: str | None

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        key = state.pop("idempotency_key", None)
        # An upcaster holds no secret: the unkeyed digest, which a retry still matches.
        state["idempotency_digest"] = idempotency_digest(CONTEXT, str(state["centre_id"]), key, None) if key else None


def consultation_key_digests(centre_id: UUID | str, key: ClientKey) -> tuple[str, str]:
    """A consultation's Idempotency-Key as its case keeps and its event records it (the keyed
    digest), then as events recorded before the digest was keyed did."""
    return key.digests(CONTEXT, str(centre_id))


# What a person may ask a supporter for (実施要領 第3 3(2)ア: 訪問支援、情報の提供等).
SUPPORT_NEEDS = ("visit", "interview", "accompanied_outing", "case_meeting", "information", "place")


class ConsultationVoided(CaseEvent, Aggregate.Event):
    """A consultation recorded by mistake (e.g. entered twice) no longer counts in 延べ相談件数 of
    the year it belongs to; the original event stays in the log."""

    consultation_id: UUID
    voided_on: date
    reason: str


class SupporterRequested(CaseEvent, Aggregate.Event):
    """The person (or family) asks for a ひきこもりサポーター; the municipality that runs dispatch
    receives it. Pseudonymous: needs and preferences are codes, never free text."""

    request_id: UUID
    subject_ref: str
    centre_id: UUID
    requested_by: str  # person / family / agency: who asked (the person must still consent)
    municipality: str
    needs: list[str]
    preferences: dict
    requested_on: date


# 情報共有の同意 (実施要領 第2 5(1)): the items a centre may share with an agency.
SHARE_ITEMS = ("name", "gender", "birth_date", "address", "contact", "consultation", "life_history",
               "medical_history")
# コーディネーター / 訪問相談支援員 / 市町村等支援員
STAFF_ROLES = ("coordinator", "outreach_worker", "municipal_support_worker")
QUALIFICATIONS = ("social_worker", "psychiatric_social_worker", "public_health_nurse", "equivalent", "none")
PROFESSIONAL_QUALIFICATIONS = ("social_worker", "psychiatric_social_worker", "public_health_nurse", "equivalent")
# 実施体制 (seeds/002 資料1, 003): who runs what. A satellite and the 小規模市町村 acceleration
# support are fixed-term (in principle 2 years) and then handed over to the municipality.
PROGRAMME_KINDS = ("prefectural_centre", "municipal_centre", "station", "support_programme", "satellite",
                   "acceleration_support")
FIXED_TERM_KINDS = ("satellite", "acceleration_support")
# ひきこもりサポート事業: the optional activities a municipality chooses (003).
SUPPORT_ACTIVITIES = ("place", "network", "family_class", "peer_meeting", "supporter_training_dispatch",
                      "private_group_liaison", "public_lecture", "startup_preparation")
FUNDERS = ("national", "prefecture", "municipality")
# Group activities counted for the programme (家族教室, 当事者会・家族会, 普及啓発, 支援従事者養成研修,
# 連絡協議会・ネットワーク会議・プラットフォーム).
GROUP_ACTIVITY_KINDS = ("family_class", "peer_meeting", "family_meeting", "public_lecture", "leaflet",
                        "staff_training", "network_meeting")
RIGHTS_KINDS = ("disclosure", "correction", "suspension", "erasure")  # 開示・訂正・利用停止・消去
RIGHTS_OUTCOMES = ("granted", "partially_granted", "refused")
RIGHTS_DEADLINE_DAYS = 30
VOID_REASONS = ("duplicate_entry", "wrong_case", "not_a_consultation")
CLOSE_REASONS = ("support_decided", "resolved", "moved_away", "no_contact", "other")
BACKOFFICE_KINDS = ("advice", "case_consultation", "training", "other")  # 後方支援: 助言・相談対応等
# 都道府県による市町村の後方支援・立ち上げ支援 (seeds/002 資料1, 003 県の動向): 助言 / 事例相談 /
# 職員の派遣 (市町村等支援員 等) / 立ち上げ支援 / 研修 / 情報提供
BACKUP_KINDS = ("advice", "case_consultation", "staff_dispatched", "startup_support", "training", "information")


class CentreProfileSet(CentreEvent, Aggregate.Event):
    """Opening fiscal year, weekly hours, public contact and, for a satellite, its fixed term."""

    opened_fy: int
    municipality: str
    address: str
    phone: str
    hours: dict
    satellite_term: dict | None


class CentreStaffingSet(CentreEvent, Aggregate.Event):
    """ひきこもり支援コーディネーター (qualifications only, no names) and extra staff."""

    coordinators: list[str]
    outreach_workers: int
    municipal_support_workers: int


class BackOfficeSupportGiven(CentreEvent, Aggregate.Event):
    """後方支援: advice or case consultation for a municipality or an agency."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)

    support_id: UUID
    given_on: date
    recipient_kind: str
    recipient: str
    kind: str
    note: dict | None


class AgencyRegistered(AgencyEvent, Aggregate.Created):
    """関係機関 in the directory, with its ministry category (libs/domain/agencies)."""

    tenant: str
    name: str
    category: str
    category_version: str
    municipality: str
    address: str
    phone: str


class AgencyRetired(AgencyEvent, Aggregate.Event):
    """The agency left the directory (closed, moved, or registered by mistake): no new disclosure
    or referral goes to it, and supporters deployed there stop. Retired by its registrant."""

    retired_on: date


class OutreachVisitRecorded(CaseEvent, Aggregate.Event):
    """訪問支援 (家庭訪問を中心とするアウトリーチ型の支援)."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("summary",)

    visit_id: UUID
    centre_id: UUID
    staff_role: str
    occurred_at: datetime
    summary: dict | None


class InfoSharingConsented(CaseEvent, Aggregate.Event):
    """利用者の了承: explained and agreed, naming recipients (agencies or categories) and items.
    `record` is the ISO/IEC TS 27560 consent record (libs/domain/consent.py)."""
    CONSENT: ClassVar[tuple[str, str] | None] = ("given", "consent_id")
    # v2 added the consent record.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    consent_id: UUID
    given_by: str
    agency_ids: list[str]
    categories: list[str]
    items: list[str]
    explained_on: date
    consent_text_version: str
    record: dict

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        state["record"] = share_consent_record(
            controller=None, given_by=state["given_by"], items=state["items"], agency_ids=state["agency_ids"],
            categories=state["categories"], consent_text_version=state["consent_text_version"])


SHARE_PURPOSES = ["関係機関への情報提供（つなぎ・連携）"]


def share_consent_record(*, controller: str | None, given_by: str, items: list[str], agency_ids: list[str],
                         categories: list[str], consent_text_version: str) -> dict:
    """利用者の了承 as a consent record: the recipients are agencies by id and categories by label."""
    return consent_record(controller=controller, given_by=given_by, purposes=SHARE_PURPOSES, items=items,
                          recipients=agency_ids + [agencies.category(c).label for c in categories],
                          method="oral_after_explanation", notice_version=consent_text_version,
                          termination="until withdrawn (同意の撤回) or the case's records are erased")


class InfoSharingWithdrawn(CaseEvent, Aggregate.Event):
    CONSENT: ClassVar[tuple[str, str] | None] = ("withdrawn", "consent_id")

    consent_id: UUID
    withdrawn_on: date


class CaseInfoDisclosed(CaseEvent, Aggregate.Event):
    """Case information given to an agency: recipient, items, and what it rests on — the person's
    consent, or a legal basis of APPI 第27条第1項 (libs/domain/legal_bases) with its statute and
    the reason consent could not be obtained (both sealed: free text may describe the person)."""
    PROVISION: ClassVar[dict[str, str] | None] = {
        "recipient": "recipient_agency_id", "items": "items", "basis": "consent_id", "legal_basis": "legal_basis",
        "on": "disclosed_on"}
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("reason", "statute")
    # v2 added the legal basis as an alternative to the consent (consent_id is None then);
    # v3 the disclosure's id (a resource of its own: GET /v1/cases/{id}/disclosures/{disclosure_id}).
    SCHEMA_VERSION: ClassVar[int] = 3
    class_version: ClassVar[int] = 3

    disclosure_id: UUID
    recipient_agency_id: UUID
    items: list[str]
    consent_id: UUID | None
    legal_basis: str | None
    statute: dict | None
    reason: dict | None
    disclosed_on: date
    purpose: str

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """v1 disclosures all rested on a consent."""
        state["legal_basis"] = None
        state["statute"] = None
        state["reason"] = None

    @staticmethod
    def upcast_v2_v3(state: dict) -> None:
        """Disclosures recorded without an id get one derived from their place in the case (the
        stored event's id and version). Data read without them (a privacy record, a published
        message: the envelope keeps them out of its data) gets none rather than a wrong one."""
        if "originator_id" in state and "originator_version" in state:
            state["disclosure_id"] = derived_id("disclosure", state["originator_id"], state["originator_version"])
        else:
            state["disclosure_id"] = None


class ReferralMade(CaseEvent, Aggregate.Event):
    """つなぎ: the case handed to an agency (関係機関につないだ件数)."""

    referral_id: UUID
    centre_id: UUID
    agency_id: UUID
    agency_category: str
    referred_on: date


class ReferralFollowedUp(CaseEvent, Aggregate.Event):
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)

    referral_id: UUID
    followed_up_on: date
    note: dict | None


class SupportDecided(CaseEvent, Aggregate.Event):
    """専門機関での支援決定: the ministry's outcome indicator (成果目標)."""

    referral_id: UUID
    centre_id: UUID
    agency_id: UUID
    agency_category: str
    decided_on: date


class ReferralDeclined(CaseEvent, Aggregate.Event):
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("reason",)

    referral_id: UUID
    declined_on: date
    reason: dict | None


class ReferralClosed(CaseEvent, Aggregate.Event):
    referral_id: UUID
    closed_on: date


class SupportMeetingHeld(CaseEvent, Aggregate.Event):
    """支援会議 on the case, with the agencies present."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)

    meeting_id: UUID
    held_on: date
    agency_ids: list[str]
    note: dict | None


class CaseClosed(CaseEvent, Aggregate.Event):
    reason: str
    closed_on: date


class SubjectErased(CaseEvent, Aggregate.Event):
    """The person's key was destroyed (crypto-shredding): every sealed value of this case reads as
    erased from now on. Carries no personal data; the log and its Merkle tree stay verifiable."""

    subject_ref: str
    erased_on: date
    basis: str


class PersonalDetailsCorrected(CaseEvent, Aggregate.Event):
    """訂正: the person's details as corrected (sealed), e.g. on the person's request."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("personal_details",)

    personal_details: dict
    corrected_on: date


class UseSuspended(CaseEvent, Aggregate.Event):
    """利用停止: no sharing or referral of the person's data until use is resumed."""

    suspended_on: date


class UseResumed(CaseEvent, Aggregate.Event):
    resumed_on: date


class RightsRequestReceived(RightsRequestEvent, Aggregate.Created):
    """A person's request about their data (開示・訂正・利用停止・消去), with its deadline."""

    tenant: str
    case_id: UUID
    centre_id: UUID
    kind: str
    received_on: date
    due_on: date


class RightsRequestAnswered(RightsRequestEvent, Aggregate.Event):
    answered_on: date
    outcome: str


class ProgrammeStarted(ProgrammeEvent, Aggregate.Created):
    """A local government (alone or jointly) starts a programme of the 推進事業, with its funding shares.

    `operators` run it now (the starting government); the others it names are `invited` and run
    it only once each accepted (ProgrammeOperatorAccepted). While any invitation is open the
    programme is pending: not public, no deployment target, not counted."""

    # v2 split the named governments into those running it and those invited (issue 14: naming
    # another government as operator needs its acceptance).
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    tenant: str
    kind: str
    name: str
    operators: list[str]
    invited: list[str]
    activities: list[str]
    starts_on: date
    ends_on: date | None
    funding: dict

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """v1 bound every named operator at once: they stay operators, nobody is invited."""
        state["invited"] = []


class ProgrammeOperatorAccepted(ProgrammeEvent, Aggregate.Event):
    """A government named as operator accepted: it runs the programme from now. `operators` and
    `invited` are the programme's after this answer, so a consumer needs no history; when `invited`
    is empty the programme runs."""

    government: str
    accepted_on: date
    operators: list[str]
    invited: list[str]


class ProgrammeOperatorDeclined(ProgrammeEvent, Aggregate.Event):
    """A government named as operator declined: the programme as proposed does not come about (it
    never runs; the starting government may start another without it)."""

    government: str
    declined_on: date


class ProgrammeChanged(ProgrammeEvent, Aggregate.Event):
    activities: list[str]
    funding: dict
    changed_on: date


class ProgrammeEnded(ProgrammeEvent, Aggregate.Event):
    """Ended, or handed over (a satellite or acceleration support passes to the municipality)."""

    ended_on: date
    handed_over_to: str | None


class GroupActivityHeld(ProgrammeEvent, Aggregate.Event):
    """家族教室・当事者会・家族会・普及啓発・支援従事者養成研修・ネットワーク会議: counts, no names."""

    activity_id: UUID
    kind: str
    held_on: date
    participants: int
    agency_ids: list[str]


class PlaceOpened(PlaceEvent, Aggregate.Created):
    """居場所: a safe place with its operator and weekly schedule (public, no personal data)."""

    tenant: str
    programme_id: UUID | None
    name: str
    operator: str
    municipality: str
    address: str
    schedule: dict


class PlaceSessionHeld(PlaceEvent, Aggregate.Event):
    """One session of a place: how many came, how many of them registered participants, and who
    helped (staff count, supporters by id). The registered participants' refs are what an officer
    typed (names, often), so they are sealed under the session's own key (`session_id`): erasable
    session by session, while the counts stay."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("participant_refs",)
    # v2: a count and the sealed refs; v1 carried the refs in clear on INTAKE.
    SCHEMA_VERSION: ClassVar[int] = 2
    class_version: ClassVar[int] = 2

    session_id: UUID
    held_on: date
    participants: int
    registered_participants: int
    participant_refs: dict | None
    staff: int
    supporter_ids: list[str]

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """The v1 refs are counted, never rendered again: they cannot be sealed on read."""
        state["registered_participants"] = len(set(state["registered_participants"]))
        state["participant_refs"] = None


class PrefecturalBackupGiven(BackupEvent, Aggregate.Created):
    """後方支援 or 立ち上げ支援 of a prefecture (its office or its centre) to a municipality inside it.
    For staff dispatched (e.g. 市町村等支援員), the role and the number of days. The note may speak
    of persons (a case consultation), so it is sealed under the back-up's own key."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ("note",)

    tenant: str
    municipality: str
    kind: str
    given_on: date
    centre_id: UUID | None
    programme_id: UUID | None
    staff_role: str | None
    staff_days: int | None
    note: dict | None


class PlaceClosed(PlaceEvent, Aggregate.Event):
    """The place closed: it leaves the public directory, takes no sessions, and supporters deployed
    there stop (dispatch ends their deployments, reason target_closed)."""

    closed_on: date


class CaseReopened(CaseEvent, Aggregate.Event):
    reopened_on: date


EVENTS: tuple[type[Contract], ...] = (
    CentreRegistered, CentreDatesChanged, CentreProfileSet, CentreStaffingSet, BackOfficeSupportGiven, AgencyRegistered,
    CaseOpened, ConsultationRecorded, ConsultationVoided, OutreachVisitRecorded, InfoSharingConsented,
    InfoSharingWithdrawn, CaseInfoDisclosed, ReferralMade, ReferralFollowedUp, SupportDecided, ReferralDeclined,
    ReferralClosed, SupporterRequested, SupportMeetingHeld, CaseClosed, CaseReopened, SubjectErased,
    PersonalDetailsCorrected, UseSuspended, UseResumed, RightsRequestReceived, RightsRequestAnswered,
    ProgrammeStarted, ProgrammeChanged, ProgrammeEnded, GroupActivityHeld, PlaceOpened, PlaceSessionHeld,
    PrefecturalBackupGiven, PlaceClosed, AgencyRetired, ProgrammeOperatorAccepted, ProgrammeOperatorDeclined,
)

