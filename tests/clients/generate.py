"""Generated clients of the committed OpenAPI documents, made in the suite (never committed: what
a portal vendor would generate is what the tests use, so a document a generator misreads fails a
test). Python: openapi-python-client (pinned in requirements-dev.txt)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from libs.platform.tools.openapi import OPENAPI_DIR, ROOT

__all__ = ["ROOT", "python_client"]

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def python_client(service: str, into: Path) -> ModuleType:
    """Generate the Python client of `service` under `into` and import it as tsunagu_<service>_client."""
    package = f"tsunagu_{service}_client"
    config = into / f"{service}.yaml"
    # No post hooks: the generator would run ruff over the output, which proves nothing here.
    config.write_text(f"post_hooks: []\npackage_name_override: {package}\n")
    subprocess.run([str(GENERATOR), "generate", "--path", str(OPENAPI_DIR / f"{service}.yaml"), "--config",
                    str(config), "--meta", "none", "--output-path", str(into / package)],
                   check=True, capture_output=True, text=True, timeout=600)
    if str(into) not in sys.path:
        sys.path.insert(0, str(into))
    return importlib.import_module(package)
