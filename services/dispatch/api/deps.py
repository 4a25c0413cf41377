"""Dependencies of the dispatch API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.dispatch.application import DispatchApplication


async def get_application(request: Request) -> DispatchApplication:
    return request.app.state.runtime.application  # not through RuntimeDep: one dependency to solve, not two


DispatchDep = Annotated[DispatchApplication, Depends(get_application)]
