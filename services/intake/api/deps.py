"""Dependencies of the intake API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.platform.web.deps import RuntimeDep
from services.intake.application import IntakeApplication


def get_application(runtime: RuntimeDep) -> IntakeApplication:
    return runtime.application


IntakeDep = Annotated[IntakeApplication, Depends(get_application)]
