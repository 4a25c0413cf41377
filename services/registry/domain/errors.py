"""Named errors of the registry rules (each one problem type)."""

from libs.domain.errors import Conflict, InvalidInput, NotFound


class UnknownCertificate(InvalidInput):
    problem = "unknown-certificate"
    title = "No such 修了番号 issued by this registrar"


class ConsentMissing(InvalidInput):
    problem = "consent-missing"
    title = "Consent items missing"


class TermTooLong(InvalidInput):
    problem = "term-too-long"
    title = "Registration term over the registrar's maximum"


class InvalidDates(InvalidInput):
    problem = "invalid-dates"
    title = "Dates out of order or out of range"


class WrongStatus(Conflict):
    problem = "wrong-status"
    title = "Not allowed in the current status"


class RevocationNotPrepared(Conflict):
    problem = "revocation-not-prepared"
    title = "Revocation needs an investigation and an interview first (第16条)"


class NotEligibleForRoster(Conflict):
    problem = "not-eligible-for-roster"
    title = "Supporter cannot be provided on a roster"


class SupporterNotFound(NotFound):
    problem = "supporter-not-found"
    title = "No such supporter"


class CourseNotFound(NotFound):
    problem = "course-not-found"
    title = "No such training course"


class InvalidTraining(InvalidInput):
    problem = "invalid-training"
    title = "Invalid training record"


class AlreadyApplied(Conflict):
    problem = "already-applied"
    title = "An application with this 修了番号 exists"


class RosterNotFound(NotFound):
    problem = "roster-not-found"
    title = "No such roster provision"
