"""Report queries over the projections, scoped to what the caller may see (queries/scope.py).

Every report is of one fiscal year (April–March), labelled in 和暦, and takes an optional
`as_of` instant: only facts whose envelope time is at or before it count.
"""

from __future__ import annotations

from services.reporting.queries.centres import centres_report
from services.reporting.queries.consultations import consultation_report
from services.reporting.queries.dispatch import dispatch_report
from services.reporting.queries.outcome import outcome_report
from services.reporting.queries.programmes import programmes_report
from services.reporting.queries.referrals import referral_report
from services.reporting.queries.supporters import supporters_report

__all__ = ["centres_report", "consultation_report", "dispatch_report", "outcome_report", "programmes_report",
           "referral_report", "supporters_report"]
