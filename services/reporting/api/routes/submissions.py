"""/v1/reports/{report}/submissions: submit a year's table, and see whether it changed since."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from libs.domain.errors import NotFound
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep, RuntimeDep
from libs.platform.web.inputs import MAX_PARAMETER_CHARS
from libs.platform.web.routing import OneHopRoute
from services.reporting.api.deps import REPLAYING, FiscalYear, SettledDep
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    referral_report,
    supporters_report,
)
from services.reporting.submissions import get_submission, submissions_compared, submit_table

router = APIRouter(route_class=OneHopRoute, prefix="/v1/reports", tags=["submissions"])
REPORTS = {"consultations": consultation_report, "referrals": referral_report, "outcome": outcome_report,
           "centres": centres_report, "supporters": supporters_report, "dispatch": dispatch_report}
ReportName = Annotated[str, Path(max_length=MAX_PARAMETER_CHARS, description=f"one of {', '.join(REPORTS)}")]
SubmissionId = Annotated[UUID, Path(description="as the submission's Location names it")]


class Change(BaseModel):
    path: str
    submitted: object
    current: object


class Submission(BaseModel):
    submission_id: str
    report: str
    fy: int
    org: str
    submitted_by: str
    submitted_at: str
    changed_since_submission: bool = False
    changes: list[Change] = []


class Submissions(BaseModel):
    data: list[Submission]


def _report(name: str):
    if name not in REPORTS:
        raise NotFound(f"no report {name!r}; one of {', '.join(REPORTS)}")
    return REPORTS[name]


@router.post("/{report}/submissions", status_code=201, response_model=Submission, responses=REPLAYING)
def submit_report(report: ReportName, actor: PrincipalDep, runtime: RuntimeDep, settled: SettledDep,
                  fy: FiscalYear, response: Response, idempotency_key: IdempotencyKey = None) -> dict:
    """Record the table as it stands now as submitted for that year (by the caller's org). A retry
    with the same Idempotency-Key answers the first submission (200); the key used for another
    report or year is refused (422)."""
    row, created = submit_table(runtime.engine, actor, report, fy, _report(report), settled,
                                idempotency_key=idempotency_key,
                                secret=bytes.fromhex(runtime.settings.idempotency_key_hex))
    answer_created(response, created=created, location=f"/v1/reports/{report}/submissions/{row['submission_id']}")
    return {**row, "submitted_at": row["submitted_at"].isoformat()}


@router.get("/{report}/submissions/{submission_id}", response_model=Submission, responses=REPLAYING)
def get_one_submission(report: ReportName, submission_id: SubmissionId, actor: PrincipalDep, runtime: RuntimeDep,
                       settled: SettledDep) -> Submission:
    """One submission, with whether its year's table changed since."""
    row = get_submission(runtime.engine, actor, report, str(submission_id), _report(report), settled)
    return Submission.model_validate({**row, "submitted_at": row["submitted_at"].isoformat()})


@router.get("/{report}/submissions", response_model=Submissions, responses=REPLAYING)
def list_submissions(report: ReportName, actor: PrincipalDep, runtime: RuntimeDep, settled: SettledDep,
                     fy: FiscalYear) -> Submissions:
    """Each submission with whether the year's table changed since (late or corrected facts)."""
    rows = submissions_compared(runtime.engine, actor, report, fy, _report(report), settled)
    return Submissions(data=[Submission.model_validate({**r, "submitted_at": r["submitted_at"].isoformat()})
                             for r in rows])
