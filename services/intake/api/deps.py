"""Dependencies of the intake API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.application import IntakeApplication
from services.intake.application.reads import IntakeReads


async def get_application(request: Request) -> IntakeApplication:
    return request.app.state.runtime.application  # not through RuntimeDep: one dependency to solve, not two


async def get_reads(request: Request) -> IntakeReads:
    return IntakeReads(request.app.state.runtime)


IntakeDep = Annotated[IntakeApplication, Depends(get_application)]
IntakeReadsDep = Annotated[IntakeReads, Depends(get_reads)]
