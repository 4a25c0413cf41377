"""Named errors of the dispatch rules (each one problem type)."""

from libs.domain.errors import Conflict, InvalidInput, NotFound


class SupporterNotEligible(Conflict):
    problem = "supporter-not-eligible"
    title = "The supporter may not be dispatched by this municipality"


class DispatchNotReady(Conflict):
    problem = "dispatch-not-ready"
    title = "The dispatch cannot start yet"


class DispatchNotActive(Conflict):
    problem = "dispatch-not-active"
    title = "Not allowed unless the dispatch is active"


class WrongDispatchStatus(Conflict):
    problem = "wrong-status"
    title = "Not allowed in the current status"


class ConsentMissing(Conflict):
    problem = "consent-missing"
    title = "No current consent covers this"


class InvalidDispatchInput(InvalidInput):
    problem = "invalid-dispatch-input"
    title = "Invalid dispatch input"


class DispatchNotFound(NotFound):
    problem = "dispatch-not-found"
    title = "No such dispatch"


class ConsentReceiptNotFound(NotFound):
    """No consent of the person recorded on the dispatch yet: its receipt is a resource not there
    (a read answers 404, as documented for every operation, not a conflict)."""

    problem = "consent-receipt-not-found"
    title = "No consent receipt on this dispatch"


class RosterEntryNotFound(NotFound):
    problem = "roster-entry-not-found"
    title = "No such supporter on your roster"


class DeploymentNotFound(NotFound):
    problem = "deployment-not-found"
    title = "No such deployment"


class UnknownDeploymentTarget(Conflict):
    problem = "unknown-deployment-target"
    title = "No place, programme or agency of this municipality has that id"
