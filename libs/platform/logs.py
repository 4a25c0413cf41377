"""The one logging setup of a service process (issue 18): JSON lines on stderr carrying the trace.

`TSUNAGU_LOG_FORMAT` = `json` (one JSON object per line: time, level, logger, message, service, and
`trace_id` / `span_id` when a span is active, libs/platform/tracing.py) or `text` (for people);
default `json` outside dev and test, `text` in dev. In tests nothing is set up unless the variable
asks (pytest captures the records). `TSUNAGU_LOG_LEVEL` (default WARNING, what was shown before
there was a setup: some INFO lines repeat every 250 ms while NATS is down; INFO for more).

What is logged is unchanged: ids, types, positions and reasons, never personal data (it is sealed
before it reaches any code that logs; tests/e2e/test_logs.py checks a flow's lines for it).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from libs.platform.tracing import current_ids

FORMATS = ("json", "text")
# uvicorn's loggers, which uvicorn gives handlers of its own: in JSON they go through ours.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(service)s%(trace)s] %(message)s"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        ids = current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(_TEXT)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ids = current_ids()
        record.service = self.service
        record.trace = f" trace={ids[0]}" if ids else ""
        return super().format(record)


class WithoutQuery(logging.Filter):
    """uvicorn's access lines without the query string: a query may carry what must never be logged
    (a disclosure request's note, a search term); the route and status are what an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5
                and isinstance(args[2], str) and "?" in args[2]):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], *args[3:])
        return True


def drop_queries_from_access_log() -> None:
    """Idempotent: one filter on uvicorn's access logger, whatever its handlers and format."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQuery) for f in access.filters):
        access.addFilter(WithoutQuery())


def log_format(environment: str, env: Mapping[str, str] = os.environ) -> str | None:
    """The format the settings ask for; None: leave logging as it is (tests)."""
    chosen = env.get("TSUNAGU_LOG_FORMAT", "").strip().lower()
    if chosen:
        if chosen not in FORMATS:
            raise ValueError(f"TSUNAGU_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}")
        return chosen
    if environment == "test":
        return None
    return "text" if environment == "dev" else "json"


def configure_logging(service: str, environment: str, env: Mapping[str, str] = os.environ,
                      stream: IO[str] | None = None) -> str | None:
    """Put our handler on the root logger (replacing one put there before: idempotent); returns
    the format, or None when logging was left alone."""
    drop_queries_from_access_log()
    chosen = log_format(environment, env)
    if chosen is None:
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    # On our handler too: uvicorn's dictConfig (run when a server is configured) can replace the
    # access logger's filters; every line that reaches our handler is filtered here whatever it did.
    handler.addFilter(WithoutQuery())
    handler.setFormatter(JsonFormatter(service) if chosen == "json" else TextFormatter(service))
    handler._tsunagu = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    reset()
    root.addHandler(handler)
    root.setLevel(env.get("TSUNAGU_LOG_LEVEL", "WARNING").upper())
    if chosen == "json":
        for name in UVICORN_LOGGERS:  # one format on stderr: uvicorn's lines become JSON too
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
    return chosen


def reset() -> None:
    """Remove our handler from the root logger."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_tsunagu", False)]:
        root.removeHandler(h)
