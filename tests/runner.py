"""`make test`: the whole suite on SQLite, then again on PostgreSQL.

PostgreSQL runs when it answers at TSUNAGU_TEST_POSTGRES_URL (default 127.0.0.1:5432, database
test); with CI=true or TSUNAGU_REQUIRE_POSTGRES=1 an unreachable PostgreSQL is a failure.
Extra arguments are passed to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys

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


def pytest(backend: str, args: list[str]) -> int:
    print(f"\n===== test suite on {backend} =====", flush=True)
    env = {**os.environ, "TSUNAGU_TEST_DB": backend}
    code = subprocess.call([sys.executable, "-m", "pytest", *args], env=env)
    return 0 if code == 0 else code


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
