"""Named domain errors. Each maps to one stable RFC 9457 problem type (libs/platform/problems)."""

from __future__ import annotations


class DomainError(Exception):
    """A broken rule. `problem` is the slug of the problem type, `status` the HTTP status."""

    problem = "domain-rule"
    title = "Domain rule violated"
    status = 422

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class InvalidInput(DomainError):
    problem = "invalid-input"
    title = "Invalid input"
    status = 422


class DateOutOfOrder(InvalidInput):
    """A date before the one it follows (an end before the request, a term ending before it starts)."""

    problem = "date-out-of-order"
    title = "A date is before the date it follows"


class NotFound(DomainError):
    problem = "not-found"
    title = "Not found"
    status = 404


class Conflict(DomainError):
    problem = "conflict"
    title = "Conflict"
    status = 409


class DataErased(DomainError):
    """The person's data this command would change or add to was erased (消去): nothing more may be
    recorded of them here. The same problem type as a value refused for sealing under a destroyed
    key (libs/platform/privacy/sealed_values.SubjectForgotten), so a client sees one answer however
    the race with the erasure ran."""

    problem = "subject-erased"
    title = "The data subject was erased"
    status = 410


class VersionMismatch(DomainError):
    problem = "version-mismatch"
    title = "The resource changed since the version you sent in If-Match"
    status = 412


class EventTooLarge(DomainError):
    """A change whose event would be too large to publish: refused before it is stored, since a
    stored event the relay cannot publish stops the service's stream for every tenant."""

    problem = "event-too-large"
    title = "The change is too large to record"
    status = 413
