"""Reporting read models: SQL tables maintained from the INTAKE, REGISTRY and DISPATCH streams.

They can be emptied and replayed from the streams at any time (the streams are kept forever),
online or offline: see services/reporting/rebuild.py and libs/platform/readmodels/rebuilds.py.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Table

from libs.domain import audit
from libs.domain import dispatch as dispatch_contracts
from libs.domain import intake as intake_contracts
from libs.domain import registry as registry_contracts
from libs.domain.contracts import Contract
from libs.platform.lease_rows import replica_id
from libs.platform.messaging.handlers import EventHandlers
from libs.platform.readmodels.projection import ProjectionHandler, Shape
from libs.platform.readmodels.stamps import StampedProjection
from services.reporting.projections import dispatch, intake, programmes, registry
from services.reporting.projections.tables import (  # noqa: F401 - the tables, for the queries
    activities,
    backoffice_supports,
    cases,
    centre_dates,
    centre_profiles,
    centres,
    consultations,
    deployment_activities,
    dispatch_events,
    group_activities,
    metadata,
    outreach_visits,
    place_sessions,
    prefectural_backups,
    referrals,
    rosters,
    support_decisions,
    supporter_endings,
    supporter_terms,
)
from services.reporting.projections.tallies import COUNTED, derive_all

# What the streams carry that no report counts: the ministry's indicators (活動指標・成果目標) ask
# for none of it. Events not published on a stream, or counted by a module too, fail at import.
IGNORED = {
    "not an indicator: directory data, staffing and the case's course after the count":
        (intake_contracts.CentreStaffingSet, intake_contracts.AgencyRegistered,
         intake_contracts.ReferralFollowedUp, intake_contracts.ReferralDeclined, intake_contracts.ReferralClosed,
         intake_contracts.SupportMeetingHeld, intake_contracts.CaseClosed, intake_contracts.CaseReopened,
         intake_contracts.ProgrammeChanged, intake_contracts.PlaceOpened, intake_contracts.PlaceClosed,
         intake_contracts.AgencyRetired),
    "a dispatch is counted from dispatch's own events (DispatchStarted), not the request":
        (intake_contracts.SupporterRequested, dispatch_contracts.DispatchRequested),
    "personal data, consents, disclosures and rights requests: privacy records, not statistics":
        (intake_contracts.InfoSharingConsented, intake_contracts.InfoSharingWithdrawn,
         intake_contracts.CaseInfoDisclosed, intake_contracts.SubjectErased, intake_contracts.PersonalDetailsCorrected,
         intake_contracts.UseSuspended, intake_contracts.UseResumed, intake_contracts.RightsRequestReceived,
         intake_contracts.RightsRequestAnswered,
         registry_contracts.RegistrationConsented, registry_contracts.RegistrationConsentWithdrawn,
         registry_contracts.SupporterDetailsChanged, registry_contracts.SupporterUseSuspended,
         registry_contracts.SupporterUseResumed, registry_contracts.SupporterDataErased,
         dispatch_contracts.SubjectDetailsRecorded, dispatch_contracts.SubjectDetailsCorrected,
         dispatch_contracts.SubjectConsented, dispatch_contracts.SupporterConsented,
         dispatch_contracts.SubjectConsentWithdrawn, dispatch_contracts.InformationDisclosed,
         dispatch_contracts.SubjectDataErased, dispatch_contracts.SourceErasureNotified),
    "not an indicator: the registrar's set-up, training and the steps before registration":
        (registry_contracts.RegistrarOpened, registry_contracts.RegistrarConfigured, registry_contracts.NumberAllocated,
         registry_contracts.TrainingCourseScheduled, registry_contracts.TrainingAttended,
         registry_contracts.TrainingCompleted, registry_contracts.ContinuingTrainingAttended,
         registry_contracts.RegistrationApplied, registry_contracts.ScreeningRecorded,
         registry_contracts.RegistrationRefused,
         registry_contracts.RevocationInquiryRecorded),
    "the registry's counts are the registry's own; dispatch's copy of the roster would count twice":
        (dispatch_contracts.RosterReceived, dispatch_contracts.RosterEntryRefreshed,
         dispatch_contracts.SupporterIntentReconfirmed, dispatch_contracts.SupporterTermRenewed,
         dispatch_contracts.SupporterRegistrationEnded, dispatch_contracts.SupporterUseSuspensionReceived,
         dispatch_contracts.SupporterUseResumptionReceived),
    "not an indicator: a dispatch's or deployment's course between its start and its end":
        (dispatch_contracts.SupporterAssigned, dispatch_contracts.ActivityPlanAgreed, dispatch_contracts.ReportReviewed,
         dispatch_contracts.GuidanceGiven, dispatch_contracts.IncidentReported, dispatch_contracts.DispatchSuspended,
         dispatch_contracts.DispatchResumed, dispatch_contracts.DeploymentAccepted, dispatch_contracts.DeploymentEnded),
    "access to personal data is audited, not counted": (audit.PersonalDataAccessed,),
}
HANDLERS: EventHandlers[ProjectionHandler] = intake.HANDLERS.merged(
    programmes.HANDLERS, registry.HANDLERS, dispatch.HANDLERS, ignored=IGNORED)

# The events whose handler always inserts one fact row keyed by the event id (`record` of a `fact`,
# or the row of a change): that row is their duplicate guard (readmodels/projection.py). Facts are
# never deleted but by a rebuild, which empties projected_events with them.
RECORDED_IN: dict[type[Contract], Table] = {
    intake_contracts.CentreDatesChanged: centre_dates, intake_contracts.CentreProfileSet: centre_profiles,
    intake_contracts.ConsultationRecorded: consultations, intake_contracts.OutreachVisitRecorded: outreach_visits,
    intake_contracts.ReferralMade: referrals, intake_contracts.SupportDecided: support_decisions,
    intake_contracts.PlaceSessionHeld: place_sessions, intake_contracts.GroupActivityHeld: group_activities,
    intake_contracts.BackOfficeSupportGiven: backoffice_supports,
    intake_contracts.PrefecturalBackupGiven: prefectural_backups,
    registry_contracts.RosterProvided: rosters,
    registry_contracts.SupporterRegistered: supporter_terms, registry_contracts.RegistrationRenewed: supporter_terms,
    registry_contracts.RegistrationWithdrawn: supporter_endings,
    registry_contracts.RegistrationRevoked: supporter_endings,
    registry_contracts.RegistrationExpired: supporter_endings,
    dispatch_contracts.DispatchStarted: dispatch_events, dispatch_contracts.DispatchEnded: dispatch_events,
    dispatch_contracts.ActivityReported: activities,
    dispatch_contracts.DeploymentActivityReported: deployment_activities,
}


# The projection generation: which tables this code keeps (libs/platform/readmodels/stamps.py). Bump
# it in a release whose projection keeps a table more (or fewer, or one differently): its first
# replica derives them at start and stamps the database, and replicas of older releases still
# running stop projecting and answering (rolling deploys, deploy/README). A table it adds must be
# derivable from the facts kept (tallies.COUNTED); one that is not needs a rebuild (a replay) instead.
GENERATION = 2  # 2: dispatch events' pivot (rp_dispatch_event_tenant_pivot)


class ReportingProjection(StampedProjection):
    """One projection over the three streams: one name, one position per stream."""

    name = "reporting"
    handlers = HANDLERS  # events it does not count are only tracked
    recorded_in = RECORDED_IN

    def __init__(self, engine: Engine, *, check_shape: bool = True, generation: int | None = None) -> None:
        shape = Shape.read(engine)
        missing = tuple(t for t in COUNTED if not shape.has(t.table.name))
        # GENERATION read now, not at import: a test starts an older release's replica so.
        super().__init__(engine, metadata, generation=GENERATION if generation is None else generation, shape=shape)
        if self.superseded() is not None:  # tables of a newer release: nothing here to check or derive
            return
        stale = outdated_tables(engine) if check_shape else []  # read again: upgrades added columns
        if stale:  # fail at start-up, not by dead-lettering every message that touches them
            raise OutdatedReadModels(
                f"reporting tables of an older shape: {', '.join(stale)}; "
                "stop the service and run `python -m services.reporting.rebuild`, then start it")

        def derive(conn: Connection, stamp: int) -> None:
            # Taking over from an older generation: every count table again (what it lacked, and
            # what its replicas left behind). Else (the same, or a database never stamped: today's
            # tables then kept or made empty here) those made now: count what the facts hold.
            derive_all(conn, COUNTED if 0 < stamp < self.code_generation else missing)

        self.take_over(derive, by=replica_id())

    def read_models(self) -> list[Table]:
        return read_model_tables()


def read_model_tables() -> list[Table]:
    """The rp_* tables: what a rebuild empties (never the submissions, nor the positions of others)."""
    return [t for t in metadata.sorted_tables if t.name.startswith("rp_")]


class OutdatedReadModels(RuntimeError):
    """The database holds rp_* tables made by an older version of this projection."""


def outdated_tables(engine: Engine) -> list[str]:
    """The rp_* tables whose columns differ from those this code writes."""
    shape = Shape.read(engine)
    return [
        table.name for table in metadata.sorted_tables
        if table.name.startswith("rp_") and shape.has(table.name)
        and shape.columns[table.name] != set(table.columns.keys())
    ]
