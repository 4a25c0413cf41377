"""Named errors of the intake rules."""

from libs.domain.errors import Conflict, InvalidInput, NotFound


class UnknownCentre(NotFound):
    problem = "unknown-centre"
    title = "No such centre"


class CaseNotFound(NotFound):
    problem = "case-not-found"
    title = "No such case"


class InvalidConsultation(InvalidInput):
    problem = "invalid-consultation"
    title = "Invalid consultation"


class InvalidCase(InvalidInput):
    problem = "invalid-case"
    title = "Invalid case"


class InvalidCentre(InvalidInput):
    problem = "invalid-centre"
    title = "Invalid centre"


class InvalidAgency(InvalidInput):
    problem = "invalid-agency"
    title = "Invalid agency"


class UnknownAgency(NotFound):
    problem = "unknown-agency"
    title = "No such agency"


class ConsentMissing(Conflict):
    problem = "consent-missing"
    title = "No current consent to share with this recipient"


class WrongCaseStatus(Conflict):
    problem = "wrong-status"
    title = "Not allowed in the case's current status"


class InvalidReferral(InvalidInput):
    problem = "invalid-referral"
    title = "Invalid referral"


class UseIsSuspended(Conflict):
    problem = "use-suspended"
    title = "The person suspended the use of their data (利用停止)"


class InvalidRightsRequest(InvalidInput):
    problem = "invalid-rights-request"
    title = "Invalid request about personal data"


class InvalidProgramme(InvalidInput):
    problem = "invalid-programme"
    title = "Invalid programme, place or activity"


class BackupNotFound(NotFound):
    problem = "backup-not-found"
    title = "No such back-up record"


class AgencyRetired(Conflict):
    problem = "agency-retired"
    title = "The agency has been retired from the directory"
