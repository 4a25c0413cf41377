"""年度別設置自治体数 and the number of sites (設置か所数) of ひきこもり地域支援センター.

A local government counts in the fiscal year its first centre (main site or satellite) opened. A
centre's opening is its 開所日 (given at registration, or changed later: CentreDatesChanged), else
開所年度 from its latest CentreProfileSet, else the fiscal year it was registered in; a site counts
in 設置数 in every fiscal year it was open for a day at least (開所日 to 廃止日). Note that the
seed is not consistent with itself: its list of 開所年度 by local government gives new local
governments 17/8/7/5/8/8/8/3/2/1 for 21～30年度 (openings before 21年度 folded in), while its
年度別設置自治体数 table says 18/8/6/5/7/8/9/3/2/1 (both reach 67). We derive the table from the
opening years, so loaded with that list we reproduce the list, not the published table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from libs.domain.fiscal import fiscal_year, wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import centre_dates, centre_profiles, centres
from services.reporting.queries.scope import as_of_utc, centre_ids, until

# 平成21年度: ひきこもり対策推進事業 and its centres were created. The seed's 年度別設置自治体数
# starts there, and counts the centres opened earlier (京都府 20年度, 大分県 19年度) in 21年度.
PROGRAMME_START_FY = 2009
# A ひきこもり地域支援センター is a main site or a satellite; a municipal window (市町村の相談窓口)
# takes consultations but is not a centre, so it is not in 設置数.
CENTRE_SITES = ("main", "satellite")
SITE_KINDS = ("main", "satellite", "window")


@dataclass(frozen=True)
class Site:
    centre_id: str
    tenant: str
    site: str
    opened_fy: int  # of its 開所日, else 開所年度 of its latest profile, else the year it was registered in
    closed_fy: int | None = None  # of its 廃止日

    @property
    def is_centre(self) -> bool:
        return self.site in CENTRE_SITES

    def open_in(self, fy: int) -> bool:
        """Open for at least a day of fiscal year `fy`."""
        return self.opened_fy <= fy and (self.closed_fy is None or self.closed_fy >= fy)


def sites(conn: Connection, actor: Principal, as_of: datetime | None, prefecture: str | None = None) -> list[Site]:
    """Every site in scope, registered by `as_of`, with the opening year known at `as_of`."""
    in_scope = centre_ids(actor, as_of, prefecture)
    opened: dict[str, int] = {}
    profiles = (select(centre_profiles.c.centre_id, centre_profiles.c.opened_fy)
                .where(centre_profiles.c.centre_id.in_(in_scope), until(centre_profiles.c.time, as_of))
                .order_by(centre_profiles.c.sequence))
    for row in conn.execute(profiles):
        opened[row.centre_id] = row.opened_fy  # the later profile replaces the earlier one
    changes = (select(centre_dates.c.centre_id, centre_dates.c.opened_on, centre_dates.c.closed_on)
               .where(centre_dates.c.centre_id.in_(in_scope), until(centre_dates.c.time, as_of))
               .order_by(centre_dates.c.sequence))
    dates = {r.centre_id: (r.opened_on, r.closed_on) for r in conn.execute(changes)}  # the latest wins
    rows = conn.execute(select(centres.c.centre_id, centres.c.tenant, centres.c.site, centres.c.registered_fy,
                               centres.c.opened_on, centres.c.closed_on)
                        .where(centres.c.centre_id.in_(in_scope)))
    found = []
    for r in rows:
        opened_on, closed_on = dates.get(r.centre_id, (r.opened_on, r.closed_on))
        opened_fy = fiscal_year(opened_on) if opened_on else opened.get(r.centre_id, r.registered_fy)
        found.append(Site(r.centre_id, r.tenant, r.site, opened_fy, fiscal_year(closed_on) if closed_on else None))
    return found


def centre_count(all_sites: list[Site], fy: int) -> int:
    """設置数 of `fy`: main sites and satellites open during it (windows excluded)."""
    return sum(1 for s in all_sites if s.is_centre and s.open_in(fy))


def first_opening_by_tenant(all_sites: list[Site]) -> dict[str, int]:
    """The fiscal year each local government's first centre opened (earlier years → 平成21年度)."""
    first: dict[str, int] = {}
    for s in all_sites:
        if s.is_centre:
            fy = max(s.opened_fy, PROGRAMME_START_FY)
            first[s.tenant] = min(fy, first.get(s.tenant, fy))
    return first


def centres_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                   prefecture: str | None = None) -> dict:
    """年度別設置自治体数 (新規・累計) from 平成21年度 to `fy`, and the sites open at the end of `fy`."""
    as_of = as_of_utc(as_of)
    with engine.connect() as conn:
        all_sites = sites(conn, actor, as_of, prefecture)
    new = Counter(first_opening_by_tenant(all_sites).values())
    years, cumulative = [], 0
    for year in range(PROGRAMME_START_FY, fy + 1):
        cumulative += new[year]
        years.append({"fy": year, "label": wareki_label(year), "new": new[year], "cumulative": cumulative})
    open_sites = [s for s in all_sites if s.open_in(fy)]
    by_kind = Counter(s.site for s in open_sites)
    per_tenant = Counter(s.tenant for s in open_sites if s.is_centre)
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "years": years,
        "local_governments": cumulative,
        "sites": {kind: by_kind[kind] for kind in SITE_KINDS},
        "centres": centre_count(all_sites, fy),
        "multi_site_local_governments": sum(1 for n in per_tenant.values() if n > 1),
    }
