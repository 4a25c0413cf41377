"""`make test`: the whole suite on SQLite and, at the same time, again on PostgreSQL.

PostgreSQL runs when it answers at TSUNAGU_TEST_POSTGRES_URL (default 127.0.0.1:5432, database
test); with CI=true or TSUNAGU_REQUIRE_POSTGRES=1 an unreachable PostgreSQL is a failure.
The two passes run side by side (most of a test's time is spent waiting on servers, so two
processes nearly halve the wall time on two cores); each has its own var/ directory and writes its
output to a file printed as a whole when the pass ends, so the logs do not interleave.
TSUNAGU_TEST_SERIAL=1 runs them one after the other, printing as they go. Each pass spreads its test
files over TSUNAGU_TEST_WORKERS processes (pytest-xdist, default 2; 0: the pass's own process): the
passes alone left the two cores idle about half the time, waiting on their servers. A test keeps its
own var/ directory, nats-server and PostgreSQL schemas in any process (tests/conftest.py). Tests that do not depend on
the backend run once, in the SQLite pass unless tests/conftest.py gives some to the PostgreSQL pass.
A test that fails is run once more on its own; if it then passes it is reported as FLAKY (and
must be looked at), so one timing hiccup on a shared machine does not hide a whole green run.
After each pass its slowest tests are printed (from its JUnit XML), so every CI log shows where
the time goes.
Extra arguments are passed to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.harness import POSTGRES_URL


def postgres_answers() -> bool:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as e:  # noqa: BLE001 - reported below
        print(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(e).__name__}", file=sys.stderr)
        return False
    finally:
        engine.dispose()


SLOWEST = 25


def _cases(junit: Path) -> list[ET.Element]:
    return list(ET.parse(junit).iter("testcase")) if junit.exists() else []


def _node_id(case: ET.Element) -> str:
    module = case.get("classname", "").replace(".", "/")
    return f"{module}.py::{case.get('name')}"


def failed_tests(junit: Path) -> list[str]:
    """Node ids of the failed or erroring tests in a JUnit XML report."""
    return [_node_id(case) for case in _cases(junit)
            if case.find("failure") is not None or case.find("error") is not None]


def slowest_tests(junit: Path, count: int = SLOWEST) -> str:
    """The `count` slowest tests of a JUnit XML report (setup, call and teardown: pytest's default
    junit_duration_report), slowest first, as lines to print."""
    timed = sorted(((float(case.get("time") or 0), _node_id(case)) for case in _cases(junit)
                    if case.find("skipped") is None), reverse=True)
    total = sum(seconds for seconds, _ in timed)
    lines = [f"{len(timed)} tests run, {total:.0f} s in all; the {min(count, len(timed))} slowest:"]
    lines += [f"{seconds:8.1f} s  {node}" for seconds, node in timed[:count]]
    return "\n".join(lines)


def workers() -> list[str]:
    """pytest-xdist's options for a pass: whole files to each worker, in the order collected (the
    slow e2e and fault files first, tests/conftest.py): none when TSUNAGU_TEST_WORKERS is 0."""
    count = int(os.environ.get("TSUNAGU_TEST_WORKERS", "2"))
    return ["-n", str(count), "--dist", "loadfile", "--no-loadscope-reorder"] if count > 0 else []


class Pass:
    """One pass of the suite on one backend, in its own process."""

    def __init__(self, backend: str, args: list[str], tmp: Path, *, stream: bool, passes: list[str]) -> None:
        self.backend = backend
        self.args = args
        self.junit = tmp / f"junit-{backend}.xml"
        self.log = tmp / f"{backend}.log"
        self.env = {**os.environ, "TSUNAGU_TEST_DB": backend, "TSUNAGU_TEST_PASSES": ",".join(passes),
                    "TSUNAGU_VAR": str(Path(__file__).resolve().parent.parent / "var" / f"test-{backend}")}
        out = None if stream else self.log.open("wb")
        if stream:
            print(f"\n===== test suite on {backend} =====", flush=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "pytest", f"--junitxml={self.junit}", *workers(), *args],
                                     env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.streamed = stream
        if out is not None:
            out.close()

    def finish(self) -> int:
        """Wait for the pass, print its log, and run its failed tests once more (up to three)."""
        code = self.proc.wait()
        if not self.streamed:
            print(f"\n===== test suite on {self.backend} =====", flush=True)
            sys.stdout.buffer.write(self.log.read_bytes())
            sys.stdout.flush()
        print(f"\n===== {self.backend}: {slowest_tests(self.junit)}", flush=True)
        if code != 1:  # 0: green; 2–5: interrupted, usage or collection problems, no tests
            return code
        failed = failed_tests(self.junit)
        if not failed or len(failed) > 3:
            return code
        print(f"\n===== {self.backend}: running the {len(failed)} failed test(s) once more =====", flush=True)
        again = subprocess.call([sys.executable, "-m", "pytest", *failed], env=self.env)
        if again == 0:
            print(f"FLAKY on {self.backend} (failed once, passed when run again): {', '.join(failed)}", flush=True)
        return again


def main() -> int:
    args = sys.argv[1:]
    required = os.environ.get("CI") == "true" or os.environ.get("TSUNAGU_REQUIRE_POSTGRES") == "1"
    serial = os.environ.get("TSUNAGU_TEST_SERIAL") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        backends = ["sqlite"]
        if postgres_answers():
            backends.append("postgresql")
        elif required:
            print("PostgreSQL is required here (CI): failing", file=sys.stderr)
            return 1
        else:
            print("skipping the PostgreSQL run", file=sys.stderr)
        failures = 0
        if serial:
            for backend in backends:
                failures = Pass(backend, args, Path(tmp), stream=True, passes=backends).finish() or failures
        else:
            passes = [Pass(backend, args, Path(tmp), stream=False, passes=backends) for backend in backends]
            for run in passes:
                failures = run.finish() or failures
    return failures


if __name__ == "__main__":
    sys.exit(main())
