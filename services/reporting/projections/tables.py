"""The reporting read models (SQLAlchemy Core tables), one family per source of facts.

Every fact row keeps the event id (a second delivery cannot count twice), its fiscal year and
`time`, the envelope time in UTC: a report "as of" an instant counts only rows with time ≤ it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()


def _fact(name: str, *columns: Column, tenant_index: bool = True) -> Table:
    """A table of facts: one row per event, by tenant and fiscal year, with its envelope time."""
    return Table(
        name, metadata,
        Column("event_id", String(36), primary_key=True),
        Column("tenant", String(6), nullable=False, index=tenant_index),
        *columns,
        Column("fy", Integer, nullable=False, index=True),
        Column("time", DateTime(timezone=True), nullable=False),
    )


# -- intake: ひきこもり地域支援センター, cases and what the centres did ---------------------------
centres = Table(
    "rp_centres", metadata,
    Column("centre_id", String(36), primary_key=True),
    Column("tenant", String(6), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("site", String(16), nullable=False),
    Column("registered_at", DateTime(timezone=True), nullable=False),  # envelope time, UTC
    Column("registered_fy", Integer, nullable=False),
    Column("opened_on", Date),  # 開所日 (CentreRegistered v2); NULL: not given, or projected before
    Column("closed_on", Date),  # 廃止日
    Column("demo", Boolean),  # a demo centre: its tenant is left out of the national tables
)
centre_dates = Table(  # 開所日・廃止日 changed; the latest change (by log sequence) at the as-of time wins
    "rp_centre_dates", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("sequence", BigInteger, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
)
centre_profiles = Table(  # 開所年度 etc.; the latest profile (by log sequence) at the as-of time wins
    "rp_centre_profiles", metadata,
    Column("event_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("opened_fy", Integer, nullable=False),
    Column("municipality", String(6), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
)
cases = Table(
    "rp_cases", metadata,
    Column("case_id", String(36), primary_key=True),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("tenant", String(6), nullable=False),
    Column("client_kind", String(16), nullable=False),
    Column("age_group", String(16), nullable=False),
    Column("residence_municipality", String(6), nullable=True),
)
# The largest fact table (issue 15: a rebuild spent half its time inserting it, each index a B-tree
# more per row). Indexed only where something reads by it: the event id (the batch's tally upsert
# and a void's retally find the facts by it), the consultation id (a void) and the fiscal year (a
# report as of an instant). No report reads it by tenant, case or centre (they read the pivot; as of
# an instant, a year's facts), so those are not indexed (an older database's are dropped at start:
# readmodels/projection.upgrade_table).
consultations = _fact(
    "rp_consultations",
    Column("consultation_id", String(36), nullable=False, index=True),  # a void finds its row by it
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("consulted_by", String(16), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("voided_at", DateTime(timezone=True), nullable=True),  # envelope time of ConsultationVoided
    tenant_index=False,
)
outreach_visits = _fact(
    "rp_outreach_visits",
    Column("visit_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("staff_role", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)
referrals = _fact(  # 関係機関につないだ件数
    "rp_referrals",
    Column("referral_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("agency_id", String(36), nullable=False),
    Column("agency_category", String(64), nullable=False),
    Column("referred_on", Date, nullable=False),
)
support_decisions = _fact(  # 専門機関での支援が決定した件数
    "rp_support_decisions",
    Column("referral_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("centre_id", String(36), nullable=False, index=True),
    Column("agency_id", String(36), nullable=False),
    Column("agency_category", String(64), nullable=False),
    Column("decided_on", Date, nullable=False),
)

# -- registry: ひきこもりサポーター per registrar (実施主体) -------------------------------------------
supporter_terms = _fact(  # 登録 (kind registered) and 再登録 (kind renewed), each with its term
    "rp_supporter_terms",
    Column("supporter_id", String(36), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("term_starts_on", Date, nullable=False),
    Column("term_ends_on", Date, nullable=False),
)
supporter_endings = _fact(  # 辞退 (withdrawn), 取消し (revoked), 期間満了 (expired)
    "rp_supporter_endings",
    Column("supporter_id", String(36), nullable=False, index=True),
    Column("reason", String(16), nullable=False),
    Column("ended_on", Date, nullable=False),
)
rosters = _fact(  # 登録名簿の提供
    "rp_rosters",
    Column("roster_id", String(36), nullable=False),
    Column("recipient", String(6), nullable=False),
    Column("provided_on", Date, nullable=False),
    Column("entries", Integer, nullable=False),
)

# -- dispatch: ひきこもりサポーター派遣 per municipality ---------------------------------------------
dispatch_events = _fact(  # started / ended (with its reason)
    "rp_dispatch_events",
    Column("dispatch_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", String(40), nullable=True),
    Column("happened_on", Date, nullable=False),
)
activities = _fact(  # サポーターの活動件数 (活動報告書 資料8)
    "rp_activities",
    Column("report_id", String(36), nullable=False),
    Column("dispatch_id", String(36), nullable=False),
    Column("activity_type", String(32), nullable=False),
    Column("activity_date", Date, nullable=False),
)

deployment_activities = _fact(  # サポーターの活動件数 at a place, a programme or an agency (no person)
    "rp_deployment_activities",
    Column("report_id", String(36), nullable=False),
    Column("deployment_id", String(36), nullable=False),
    Column("target_kind", String(16), nullable=False),
    Column("activity_date", Date, nullable=False),
)
deployments = Table(  # which target each deployment serves (its reports do not repeat it)
    "rp_deployments", metadata,
    Column("deployment_id", String(36), primary_key=True),
    Column("target_kind", String(16), nullable=False),
)


# -- programmes (実施体制), places (居場所), group activities and 後方支援 ------------------------------
def _programmes(name: str) -> Table:
    return Table(
        name, metadata,
        Column("programme_id", String(36), primary_key=True),
        Column("tenant", String(6), nullable=False, index=True),
        Column("kind", String(32), nullable=False),
        Column("starts_on", Date, nullable=False),
        Column("ends_on", Date, nullable=True),  # the planned end (fixed-term kinds)
        Column("ended_on", Date, nullable=True),  # the actual end or handover
        Column("time", DateTime(timezone=True), nullable=False),
    )


programmes = _programmes("rp_programmes")
# Programmes waiting for a named operator's acceptance: not counted until they run (then moved to
# rp_programmes, timed by the last acceptance), dropped when declined or withdrawn.
pending_programmes = _programmes("rp_pending_programmes")
place_sessions = _fact(
    "rp_place_sessions",
    Column("place_id", String(36), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("participants", Integer, nullable=False),
    Column("supporters", Integer, nullable=False),
)
group_activities = _fact(
    "rp_group_activities",
    Column("kind", String(32), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("participants", Integer, nullable=False),
)
prefectural_backups = _fact(  # 都道府県による後方支援・立ち上げ支援 (tenant: the prefecture)
    "rp_prefectural_backups",
    Column("municipality", String(6), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("given_on", Date, nullable=False),
    Column("staff_days", Integer, nullable=True),
)
backoffice_supports = _fact(
    "rp_backoffice_supports",
    Column("centre_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient_kind", String(16), nullable=False),
    Column("given_on", Date, nullable=False),
)
