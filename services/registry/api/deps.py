"""Dependencies of the registry API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.platform.web.deps import RuntimeDep
from services.registry.application import RegistryApplication


async def get_application(runtime: RuntimeDep) -> RegistryApplication:
    return runtime.application


RegistryDep = Annotated[RegistryApplication, Depends(get_application)]
