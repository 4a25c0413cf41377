"""Named errors of the intake rules."""

from libs.domain.errors import InvalidInput, NotFound


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
