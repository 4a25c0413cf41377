"""`make test`: the whole suite on SQLite, then again on PostgreSQL.

PostgreSQL runs when it answers at TSUNAGU_TEST_POSTGRES_URL (default 127.0.0.1:5432, database
test); with CI=true or TSUNAGU_REQUIRE_POSTGRES=1 an unreachable PostgreSQL is a failure.
A test that fails is run once more on its own; if it then passes it is reported as FLAKY (and
must be looked at), so one timing hiccup on a shared machine does not hide a whole green run.
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


def failed_tests(junit: Path) -> list[str]:
    """Node ids of the failed or erroring tests in a JUnit XML report."""
    if not junit.exists():
        return []
    failed = []
    for case in ET.parse(junit).iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            module = case.get("classname", "").replace(".", "/")
            failed.append(f"{module}.py::{case.get('name')}")
    return failed


def pytest(backend: str, args: list[str]) -> int:
    print(f"\n===== test suite on {backend} =====", flush=True)
    env = {**os.environ, "TSUNAGU_TEST_DB": backend}
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={junit}", *args], env=env)
        if code != 1:  # 0: green; 2–5: interrupted, usage or collection problems, no tests
            return code
        failed = failed_tests(junit)
    if not failed or len(failed) > 3:
        return code
    print(f"\n===== {backend}: running the {len(failed)} failed test(s) once more =====", flush=True)
    again = subprocess.call([sys.executable, "-m", "pytest", *failed], env=env)
    if again == 0:
        print(f"FLAKY on {backend} (failed once, passed when run again): {', '.join(failed)}", flush=True)
    return again


def main() -> int:
    args = sys.argv[1:]
    required = os.environ.get("CI") == "true" or os.environ.get("TSUNAGU_REQUIRE_POSTGRES") == "1"
    failures = pytest("sqlite", args)
    if postgres_answers():
        failures = pytest("postgresql", args) or failures
    elif required:
        print("PostgreSQL is required here (CI): failing", file=sys.stderr)
        return 1
    else:
        print("skipping the PostgreSQL run", file=sys.stderr)
    return failures


if __name__ == "__main__":
    sys.exit(main())
