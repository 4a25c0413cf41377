"""Dependencies of the intake API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.platform.web.deps import RuntimeDep
from services.intake.application import IntakeApplication
from services.intake.application.reads import IntakeReads


async def get_application(runtime: RuntimeDep) -> IntakeApplication:
    return runtime.application


async def get_reads(runtime: RuntimeDep) -> IntakeReads:
    return IntakeReads(runtime)


IntakeDep = Annotated[IntakeApplication, Depends(get_application)]
IntakeReadsDep = Annotated[IntakeReads, Depends(get_reads)]
