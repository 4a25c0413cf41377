"""The one service factory: every service is a FastAPI app with the same runtime and lifespan.

`create_service_app` wires settings → database → sealer → eventsourcing Application → NATS bus
→ relay → consumers, and mounts /healthz, /readyz and the service's routers. Nothing connects at
import time; everything is built in the lifespan and torn down on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from libs.platform import tracing
from libs.platform.audit.api import router as audit_router
from libs.platform.audit.log import AuditLog
from libs.platform.audit.witness import last_published, publish_checkpoint
from libs.platform.health import LoopHealth
from libs.platform.logs import configure_logging
from libs.platform.memory import startup_heap_frozen
from libs.platform.runtime import Runtime, ServiceSpec, build_runtime
from libs.platform.settings import Settings
from libs.platform.store.commits import sleep_or_stop
from libs.platform.store.db import ping
from libs.platform.store.listen import ring_on_notify
from libs.platform.web.code_lists import code_lists_router
from libs.platform.web.edge import install_edge, readiness_for
from libs.platform.web.metrics import LoopCollector, install_metrics
from libs.platform.web.openapi import install_openapi
from libs.platform.web.ops import router as ops_router
from libs.platform.web.problems import install_problem_handlers, problem

log = logging.getLogger(__name__)
STOP_SECONDS = 8  # a stopping service's loops that are still running then are cancelled


def operation_id(route: APIRoute) -> str:
    """Stable OpenAPI operation ids: the endpoint function's name."""
    return route.name


def create_service_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env(spec.name)
    configure_logging(spec.name, settings.environment)  # JSON lines with the trace id (TSUNAGU_LOG_FORMAT)
    tracing.configure(spec.name)  # from OTEL_*; off when they are unset

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await asyncio.to_thread(build_runtime, spec, settings)
        app.state.runtime = runtime
        stop = asyncio.Event()
        tasks = [asyncio.create_task(runtime.bus.connect())]
        # Each loop under its role's lease when there are replicas (runtime.run_role).
        roles: list[tuple[LoopHealth, Callable[[asyncio.Event], Coroutine[Any, Any, Any]]]] = []
        if runtime.relay is not None:
            roles.append((runtime.relay.health, runtime.relay.run))
        roles += [(c.health, c.run) for c in runtime.consumers]
        roles += [(f.health, f.run) for f in runtime.followers]
        health = {h.name: h for h in runtime.jobs}
        if (audit := runtime.audit) is not None:
            roles.append((health["checkpoints"], functools.partial(_checkpoints, runtime, audit,
                                                                   health=health["checkpoints"])))
        roles += [(health[name], functools.partial(_every, seconds, job, runtime, health=health[name]))
                  for name, seconds, job in runtime.scheduled]
        tasks += [asyncio.create_task(runtime.run_role(h, body, stop)) for h, body in roles]
        if runtime.leases is not None and not settings.background:  # web-only: who runs them, read only
            tasks.append(asyncio.create_task(runtime.leases.watch(stop)))
        elif runtime.leases is not None and (channel := _commits_channel(runtime)) is not None:
            # Other replicas' commits wake this one's relay and followers (not a 50 ms poll).
            runtime.listener = LoopHealth(kind="listener", name=channel)
            core = getattr(runtime.application.recorder, "core", None)
            tasks.append(asyncio.create_task(ring_on_notify(runtime.engine, channel, runtime.application.commits,
                                                            stop, health=runtime.listener,
                                                            own=getattr(core, "origin", None))))
        try:
            with startup_heap_frozen():
                yield
        finally:
            stop.set()  # every loop stops, and a lease holder lets its leases go (lease.py)
            runtime.bus.stopping()
            tasks[0].cancel()  # the bus's first connect, retried until NATS answers: nothing waits for it now
            _, pending = await asyncio.wait(tasks, timeout=STOP_SECONDS)
            for t in pending:
                t.cancel()
            await runtime.bus.close()
            if spec.on_stop is not None:
                with contextlib.suppress(Exception):  # the database may be gone; stopping goes on
                    await asyncio.to_thread(spec.on_stop, runtime)
            try:
                if runtime.application is not None:
                    runtime.application.close()
            finally:
                runtime.engine.dispose()

    app = FastAPI(
        title=spec.title, version="1.0.0", description=spec.description, lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_problem_handlers(app)
    install_openapi(app)
    _mount_health(app)
    metrics = install_metrics(app, spec.name, LoopCollector(
        spec.name, lambda: app.state.runtime.loops(), lambda: app.state.runtime.open_dead_letters(),
        lambda loop: app.state.runtime.loop_problem(loop) is not None))
    for router in spec.routers:
        app.include_router(router)
    app.include_router(code_lists_router(spec.name))
    if spec.make_application is not None:
        app.include_router(audit_router)
    app.include_router(ops_router)
    install_edge(app, settings, metrics)
    tracing.install_http(app, spec.name)
    return app


def _commits_channel(runtime: Runtime) -> str | None:
    """The NOTIFY channel of the service's events table (PostgreSQL), if it has one."""
    core = getattr(getattr(runtime.application, "recorder", None), "core", None)
    return getattr(core, "channel", None)


async def _checkpoints(runtime: Runtime, audit: AuditLog, stop: asyncio.Event, health: LoopHealth) -> None:
    """Sign the log's Merkle root every interval, and publish every kept checkpoint that AUDIT
    lacks, in order (those made on an auditor's request too), so a witness outside our control
    holds them all. A checkpoint counts as published only when AUDIT acked it; until then it is
    retried every half second, but a new one is still made only every interval."""
    service, interval = runtime.settings.service, runtime.settings.audit_interval_seconds
    made_at, published = None, None  # published: the largest tree size AUDIT holds (None: ask it)
    while not stop.is_set():
        try:
            with health.round():
                if made_at is None or time.monotonic() - made_at >= interval:
                    await asyncio.to_thread(audit.checkpoint)
                    made_at = time.monotonic()
                if runtime.bus.connected and (published is None or audit.latest_size > published):
                    if published is None:
                        published = await last_published(runtime.bus, service)
                    for cp in await asyncio.to_thread(audit.checkpoints, published):
                        await publish_checkpoint(runtime.bus.js, service, audit.public_key_hex, cp)
                        published = cp["tree_size"]
            health.observe(published or 0, audit.latest_size)
            health.succeeded()
        except Exception as e:  # noqa: BLE001 - logged; the next round tries again
            log.error("audit checkpoint: %s: %s", type(e).__name__, e)
            health.failed(e)
            published = None  # e.g. AUDIT deleted: ensure it again and ask what it holds
        await sleep_or_stop(stop, 0.5)


async def _every(seconds: float, job: Callable[[Runtime], Any], runtime: Runtime,
                 stop: asyncio.Event, health: LoopHealth) -> None:
    while not stop.is_set():
        try:
            with health.round():
                if inspect.iscoroutinefunction(job):
                    await job(runtime)
                else:
                    await asyncio.to_thread(job, runtime)
            health.observe(health.position + 1, handled=1)  # position: rounds completed
            health.succeeded()
        except Exception as e:  # noqa: BLE001 - logged; the next round tries again
            log.error("job %s: %s: %s", health.name, type(e).__name__, e)
            health.failed(e)
        await sleep_or_stop(stop, seconds)


def _mount_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> Any:
        """Ready when the database and NATS (unless web-only) answer, no dead letter is open and no background loop
        is stuck; otherwise 503 problem+json whose detail names each reason. `checks.loops` lists
        every relay, consumer, read model and job: position, end, lag, seconds since progress,
        consecutive failures. Never a 500: the loops are read from memory (what they last saw).
        The checks and reasons are shown to a token with the role `operator` only; anyone else
        (a probe) gets the verdict and the same status (libs/platform/edge.readiness_for)."""
        try:
            answer = _readiness(app.state.runtime)
        except Exception as e:  # a health check that fails says so, never 500
            log.exception("readiness check failed")
            answer = problem(503, "not-ready", "Service not ready", f"readiness check failed: {type(e).__name__}")
        return readiness_for(request, answer)


def _readiness(runtime: Runtime) -> Any:
    """The checks of /readyz and why the service is not ready, if it is not."""
    checks: dict[str, Any] = {}
    reasons: list[str] = []
    try:
        ping(runtime.engine)
        checks["database"] = "ok"
    except Exception as e:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"unreachable: {type(e).__name__}"
        reasons.append("database unreachable")
    checks["nats"] = "ok" if runtime.bus.connected else "unreachable"
    # Only a replica that runs (or may take over) the relay, the consumers and the jobs uses NATS: a
    # web-only one serves HTTP alone, so NATS down changes nothing it does (its writes wait in the
    # log for a worker), and is no reason to take it out of the load balancer.
    if checks["nats"] != "ok" and runtime.settings.background:
        reasons.append("NATS unreachable")
    try:
        dead = runtime.open_dead_letters()
    except Exception as e:  # noqa: BLE001 - the database again: already a reason
        dead = sum(c.dead_lettered for c in runtime.consumers)
        checks["dead_letters_unknown"] = type(e).__name__
    checks["dead_lettered"] = dead
    if dead:
        reasons.append(f"{dead} open dead letter(s)")
    loops = runtime.loops()
    for kind, key in (("relay", "relay_lag"), ("consumer", "consumer_lag"), ("follower", "read_model_lag")):
        of_kind = [loop.lag for loop in loops if loop.kind == kind and not loop.standby]
        if of_kind:
            checks[key] = sum(of_kind)
    if runtime.leases is not None:  # which roles this replica runs; a standby one is ready too
        checks["replica"] = runtime.leases.me
        checks["background"] = "on" if runtime.settings.background else "off (web-only)"
        checks["leases_held"] = sum(1 for lease in runtime.leases.roles.values() if lease.held)
        # Not a reason to be unready: this replica serves as well as before (writes are kept in the
        # log until a worker relays them), and taking every web replica out would stop the service.
        # An operator is told here and by the alert on tsunagu_lease_unheld_seconds (deploy/README).
        if unheld := runtime.roles_without_holder():
            checks["roles_without_holder"] = unheld
    checks["loops"] = [loop.report(stall_seconds=runtime.settings.stall_seconds,
                                   max_failures=runtime.settings.max_loop_failures) for loop in loops]
    reasons += [f"{loop['kind']} {loop['name']}: {loop['problem']}" for loop in checks["loops"] if "problem" in loop]
    if reasons:
        return problem(503, "not-ready", "Service not ready", "; ".join(reasons),
                       extensions={"checks": checks})
    return {"status": "ready", "checks": checks}
