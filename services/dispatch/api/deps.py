"""Dependencies of the dispatch API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from libs.platform.web.deps import RuntimeDep
from services.dispatch.application import DispatchApplication


async def get_application(runtime: RuntimeDep) -> DispatchApplication:
    return runtime.application


DispatchDep = Annotated[DispatchApplication, Depends(get_application)]
