"""`make run`'s launcher: embedded NATS, four services on SQLite, demo data once, one service
stopped, started, restarted and rebuilt alone by an operator, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from libs.platform.tools.natsserver import answers, free_port
from libs.platform.web.auth import mint_token
from tests.harness import TLS, eventually

SERVICES = ("intake", "registry", "dispatch", "reporting")


def _get(url: str, **kwargs) -> httpx.Response:
    """httpx.get with the suite's SSL context (tests/harness.py): the reports are polled every 50 ms."""
    return httpx.get(url, verify=TLS, **kwargs)


def test_the_launcher_runs_the_whole_system_with_demo_data_and_stops_everything(tmp_path):
    ports = {name: free_port() for name in SERVICES}
    nats_url = f"nats://127.0.0.1:{free_port()}"
    env = {**os.environ, "TSUNAGU_VAR": str(tmp_path / "var"), "NATS_URL": nats_url,
           **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()}}
    env.pop("DATABASE_URL", None)  # embedded defaults: SQLite files under var/
    proc = subprocess.Popen([sys.executable, "-m", "libs.platform.tools.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Tsunagu is running" in line for line in lines):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        output = "".join(lines)
        assert "started embedded nats-server" in output and "demo data loaded" in output, output
        secret = (tmp_path / "var" / "dev-jwt.key").read_text().strip()
        ministry = {"Authorization": "Bearer " + mint_token(secret, sub="t", org="mhlw", roles=["ministry"])}
        city = {"Authorization": "Bearer " + mint_token(secret, sub="t", org="991015", roles=["municipal_officer"])}
        # The demo lives in two demo prefectures (990001, 980005): their officers see it.
        demo_prefectures = [{"Authorization": "Bearer " + mint_token(secret, sub="t", org=org,
                                                                      roles=["prefecture_officer"])}
                            for org in ("990001", "980005")]

        def consultations(headers: dict) -> int | None:  # None while reporting replays (503) or is down
            try:
                r = _get(f"http://127.0.0.1:{ports['reporting']}/v1/reports/consultations",
                              params={"fy": 2016}, headers=headers)
            except httpx.HTTPError:
                return None
            return r.json()["total"] if r.status_code == 200 else None

        def total() -> int | None:
            counts = [consultations(h) for h in demo_prefectures]
            return None if None in counts else sum(c for c in counts if c is not None)

        def wait_for_15() -> None:
            eventually(lambda: total() == 15, timeout=90)  # reporting replays the demo: slower on a busy machine

        wait_for_15()
        # The national tables are unchanged by the demo: its tenants are demo tenants.
        assert consultations(ministry) == 0
        national = _get(f"http://127.0.0.1:{ports['reporting']}/v1/reports/centres", params={"fy": 2016},
                             headers=ministry).json()
        assert (national["centres"], national["local_governments"]) == (0, 0)

        def statuses() -> list[str]:  # the requested one comes from intake's SupporterRequested, over NATS
            dispatches = _get(f"http://127.0.0.1:{ports['dispatch']}/v1/dispatches", headers=city).json()["data"]
            return sorted(d["status"] for d in dispatches)

        eventually(lambda: statuses() == ["active", "ended", "requested"], timeout=30)
        assert (tmp_path / "var" / "intake.db").exists()
        places = _get(f"http://127.0.0.1:{ports['intake']}/public/v1/places").json()["data"]
        assert [p["name"] for p in places] == ["居場所ひだまり（デモ）"]
        deployed = _get(f"http://127.0.0.1:{ports['dispatch']}/v1/deployments", headers=city).json()["data"]
        assert [(d["target_name"], d["status"]) for d in deployed] == [("居場所ひだまり（デモ）", "active")]
        backups = _get(f"http://127.0.0.1:{ports['intake']}/v1/backups", headers=city).json()["data"]
        assert [b["kind"] for b in backups] == ["staff_dispatched"]
        _operate_one_service(env, ports, wait_for_15)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    assert not answers(nats_url)
    for port in ports.values():
        assert not answers(f"nats://127.0.0.1:{port}")


def _tsunagu(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", *args], env=env, capture_output=True,
                          text=True, timeout=180)


def _operate_one_service(env: dict, ports: dict, wait_for_15) -> None:
    """What an operator does with reporting alone while the rest runs: restart it, rebuild it
    offline (refused while it runs, fine once it is stopped), rebuild it online."""
    before = _tsunagu(env, "status").stdout
    assert "reporting  running" in before, before
    restarted = _tsunagu(env, "restart", "reporting")
    assert restarted.returncode == 0 and "reporting started" in restarted.stdout, restarted
    after = _tsunagu(env, "status").stdout

    def line_of(status: str, name: str) -> str:
        return next(line for line in status.splitlines() if line.startswith(name))

    assert line_of(after, "reporting") != line_of(before, "reporting")  # another process
    for name in ("intake", "registry", "dispatch"):  # the others were not touched
        assert line_of(after, name) == line_of(before, name)
    wait_for_15()

    offline = [sys.executable, "-m", "services.reporting.rebuild"]
    refused = subprocess.run(offline, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "reporting is running" in refused.stderr, refused
    assert _tsunagu(env, "stop", "reporting").returncode == 0
    assert not answers(f"nats://127.0.0.1:{ports['reporting']}")
    assert "reporting  stopped" in _tsunagu(env, "status").stdout
    assert subprocess.run(offline, env=env, capture_output=True, text=True, timeout=60).returncode == 0
    assert _tsunagu(env, "start", "reporting").returncode == 0
    wait_for_15()  # replayed: 503 until then, never a partial total

    online = _tsunagu(env, "rebuild")
    assert online.returncode == 0 and "done" in online.stdout, online
    wait_for_15()
