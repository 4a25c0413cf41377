"""Dependencies of the registry API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.registry.application import RegistryApplication


async def get_application(request: Request) -> RegistryApplication:
    return request.app.state.runtime.application  # not through RuntimeDep: one dependency to solve, not two


RegistryDep = Annotated[RegistryApplication, Depends(get_application)]
