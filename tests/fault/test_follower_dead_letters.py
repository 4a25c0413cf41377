"""An event of intake's own log that its read model can never apply (a centre named with a NUL,
stored by a release before the input check: PostgreSQL's text refuses it) no longer stops the
directory for good: the follower dead-letters it and goes on, other centres appear, the service is
unready with the dead letter shown until an operator resolves it (readmodels/poison.py)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.platform.tools import cli
from services.intake.domain.centre import Centre
from services.intake.read_models import centres
from tests.harness import JWT_SECRET, ServiceServer, backend, eventually, status

pytestmark = pytest.mark.fault

PREF, OSAKA = "130001", "270008"
OSAKA_CENTRE = "大阪府ひきこもり地域支援センター"


def _store_poison(intake: ServiceServer) -> int:
    """A centre event the read model refuses, saved as a release before the input check could
    (straight into the log); its log position. On PostgreSQL: a NUL in the name. SQLite takes a NUL,
    so there the read model refuses a row whose key a hand edit left in its table."""
    centre_id = uuid4()
    name = "東京都\x00センター"
    if backend() != "postgresql":
        name = "東京都センター"
        with intake.runtime.engine.begin() as conn:
            conn.execute(centres.insert().values(centre_id=str(centre_id), tenant=PREF, name="手で入れた行",
                                                 kind="adult", site="main"))
    application = intake.runtime.application
    application.save(Centre.register(id=centre_id, tenant=PREF, name=name, kind="adult", site="main"))
    return application.recorder.max_notification_id()


def _cli(capsys, intake: ServiceServer, *args: str) -> tuple[int, str]:
    from libs.platform.web.auth import mint_token

    token = mint_token(JWT_SECRET, sub="cli-operator", org="ops", roles=["operator"])
    code = cli.main(["dead-letters", "intake", "--url", intake.url, "--token", token, *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_centre_the_read_model_refuses_is_dead_lettered_and_the_directory_goes_on(nats_server, start_service,
                                                                                      capsys):
    intake = start_service("intake", nats_server.url)
    with intake.client() as anyone:
        eventually(lambda: anyone.get("/readyz").status_code == 200)
    poison = _store_poison(intake)
    with intake.client(role="prefecture_officer", org=OSAKA) as osaka:
        r = osaka.post("/v1/centres", json={"name": OSAKA_CENTRE, "kind": "adult", "prefecture": OSAKA})
        assert status(r) == 201
    answers: list[int] = []

    def listed() -> bool:
        r = anyone.get("/public/v1/centres")  # it catches up with the log first (read-your-writes)
        answers.append(r.status_code)
        return r.status_code == 200 and OSAKA_CENTRE in [c["name"] for c in r.json()["data"]]

    with intake.client() as anyone:  # another tenant's centre, after the poison in the log, is listed
        eventually(listed)
    assert set(answers) == {200}, "a read failed on the event the read model cannot apply"
    with intake.operator() as operator:
        r = eventually(lambda: (r := operator.get("/readyz")).status_code == 503 and r)
        assert r.json()["checks"]["dead_lettered"] == 1 and "1 open dead letter(s)" in r.json()["detail"]
        letters = operator.get("/v1/ops/dead-letters").json()["data"]
        assert [(d["consumer"], d["stream"], d["position"]) for d in letters] == [("intake-read", "intake-log", poison)]
        assert 'tsunagu_dead_letters_open{service="intake"} 1.0' in operator.get("/metrics").text
    code, out = _cli(capsys, intake, "list")
    assert code == 0 and f"intake-read intake-log {poison}  open" in out
    code, out = _cli(capsys, intake, "resolve", "intake-read", "intake-log", str(poison))
    assert code == 0 and "0 still open" in out
    with intake.client() as anyone:
        eventually(lambda: anyone.get("/readyz").status_code == 200)
    code, out = _cli(capsys, intake, "list")
    assert code == 0 and "no open dead letters" in out
