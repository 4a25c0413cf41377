"""/v1/reports/{report}/submissions: submit a year's table, and see whether it changed since."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from libs.domain.errors import NotFound
from libs.platform.web.deps import PrincipalDep, RuntimeDep
from libs.platform.web.inputs import MAX_PARAMETER_CHARS
from services.reporting.api.deps import REPLAYING, FiscalYear, SettledDep
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    referral_report,
    supporters_report,
)
from services.reporting.submissions import submissions_compared, submit_table

router = APIRouter(prefix="/v1/reports", tags=["submissions"])
REPORTS = {"consultations": consultation_report, "referrals": referral_report, "outcome": outcome_report,
           "centres": centres_report, "supporters": supporters_report, "dispatch": dispatch_report}
ReportName = Annotated[str, Path(max_length=MAX_PARAMETER_CHARS, description=f"one of {', '.join(REPORTS)}")]


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
                  fy: FiscalYear) -> dict:
    """Record the table as it stands now as submitted for that year (by the caller's org)."""
    row = submit_table(runtime.engine, actor, report, fy, _report(report), settled)
    return {**row, "submitted_at": row["submitted_at"].isoformat()}


@router.get("/{report}/submissions", response_model=Submissions, responses=REPLAYING)
def list_submissions(report: ReportName, actor: PrincipalDep, runtime: RuntimeDep, settled: SettledDep,
                     fy: FiscalYear) -> Submissions:
    """Each submission with whether the year's table changed since (late or corrected facts)."""
    rows = submissions_compared(runtime.engine, actor, report, fy, _report(report), settled)
    return Submissions(data=[Submission.model_validate({**r, "submitted_at": r["submitted_at"].isoformat()})
                             for r in rows])
