"""A portal's whole flow through the TypeScript client generated from openapi/intake.yaml and
openapi/reporting.yaml (issue 18): openapi-typescript makes the types, tsc checks
clients/typescript/src/flow.ts against them, and the flow runs on node with openapi-fetch against
running services: centre → case → consultation → consent → referral → report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from libs.platform.web.auth import ISSUER
from tests.clients.generate import ROOT
from tests.harness import JWT_SECRET

CLIENT = ROOT / "clients" / "typescript"
BIN = CLIENT / "node_modules" / ".bin"


def _node_or_skip() -> str:
    node = shutil.which("node")
    installed = (BIN / "openapi-typescript").exists() and (BIN / "tsc").exists()
    if node and installed:
        return node
    reason = ("node is not installed" if not node else
              "clients/typescript/node_modules is missing: `make install` installs it with npm")
    if os.environ.get("CI") == "true":
        pytest.fail(f"the TypeScript client test must run in CI: {reason}")
    pytest.skip(reason)


def _run(*command: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=CLIENT, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    return done.stdout


def test_a_portal_runs_the_whole_flow_through_the_generated_typescript_client(nats_server, start_service):
    node = _node_or_skip()
    for service in ("intake", "reporting"):  # the types, from the committed documents
        _run(node, str(BIN / "openapi-typescript"), str(ROOT / "openapi" / f"{service}.yaml"),
             "--default-non-nullable", "false", "-o", f"generated/{service}.ts")
    _run(node, str(BIN / "tsc"), "-p", "tsconfig.json")  # the flow type-checks against them
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    out = _run(node, "dist/src/flow.js", env={"INTAKE_URL": intake.url, "REPORTING_URL": reporting.url,
                                               "JWT_SECRET": JWT_SECRET, "JWT_ISSUER": ISSUER})
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["label"], result["hello_work"]) == ("平成28年度", 1)
    with intake.client(role="centre_staff", org=result["centre"]) as staff:
        referral = staff.get(f"/v1/cases/{result['case']}/referrals/{result['referral']}").json()
        assert referral["referral_id"] == result["referral"]
