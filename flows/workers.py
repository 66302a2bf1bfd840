"""Scale-out: the same Plays run by Prefect workers instead of `plays serve`'s in-process runner.

`deploy_to_pool` creates a `process` work pool (if missing) and registers one deployment per Play
plus the sync flow, each with a module-path entrypoint in `flows.entry` (the worker's subprocess
imports it and compiles the Plays), the same triggers and schedules as `plays serve`, and the
``PLAYS_*`` settings that are not secret as job environment. `start_worker` runs a process worker
on the pool (what ``prefect worker start --pool NAME --type process`` does). Several workers on
several machines share one Prefect server (PostgreSQL) and one store (``PLAYS_DATABASE_URL`` on
PostgreSQL).

Secrets stay out of Prefect (D-OPS-2): job variables are readable by anyone with access to the
Prefect UI or API, so the store URL (it may hold a password) and the sandbox connection info (it
holds tokens) are never put there. A process worker hands its own environment to each flow run, so
each worker machine sets ``PLAYS_DATABASE_URL`` (and the CRM credentials integration.yaml names)
in its environment; the job variables only say that the URL must come from there
(``PLAYS_STORE_FROM_ENV=1``), and a flow run without it stops with a clear error
(`flows.entry`) instead of opening a local SQLite file.
"""

from __future__ import annotations

import asyncio
from typing import Any

from flows.artifacts import play_description
from flows.consumers import trigger_types
from flows.runtime import RuntimeSettings
from flows.serve import seconds, sync_interval
from flows.triggers import deployment_trigger

SECRET_VARS = ("PLAYS_DATABASE_URL", "PLAYS_SANDBOX_INFO")  # never in job variables
STORE_FROM_ENV = "PLAYS_STORE_FROM_ENV"


def job_env(settings: RuntimeSettings) -> dict[str, str]:
    """The deployments' job environment: the settings without any secret."""
    env = {k: v for k, v in settings.to_env().items() if k not in SECRET_VARS}
    if settings.database_url:
        env[STORE_FROM_ENV] = "1"
    return env


def ensure_pool(pool: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass


def deploy_to_pool(pool: str, plays: str, ws: Any, settings: RuntimeSettings | None = None) -> list[str]:
    """Register the deployments (idempotent: re-running updates them). Returns their names."""
    from prefect.deployments.runner import EntrypointType, deploy

    from flows.entry import attribute
    from flows.play_flows import SYNC_FLOW_NAME, play_flow, sync_flow
    from flows.runtime import get_runtime

    settings = settings or RuntimeSettings.from_env()
    if settings.plays == ("plays",) and plays != "plays":
        settings = RuntimeSettings(plays=(plays,), database_url=settings.database_url,
                                   database_schema=settings.database_schema, crm=settings.crm,
                                   sandbox_info=settings.sandbox_info, batch_size=settings.batch_size)
    settings.apply()
    ensure_pool(pool)
    env = {"env": job_env(settings)}
    deployments = []
    for pid in sorted(ws.plays):
        play = ws.plays[pid]
        t = play.trigger
        kw: dict[str, Any] = {}
        if t.type == "schedule":
            kw = {"cron": t.cron} if t.cron else {"interval": seconds(t.every, "1d")}
            params = {"play": pid, "trigger": "schedule"}
        else:
            kw = {"triggers": [deployment_trigger(play, trigger_types(play))]}
            params = {"play": pid, "trigger": "manual"}
        d = play_flow(pid).to_deployment(name=pid, parameters=params, concurrency_limit=1, tags=["plays"],
                                         description=play_description(play),
                                         job_variables=env, entrypoint_type=EntrypointType.MODULE_PATH, **kw)
        d.entrypoint = f"flows.entry.{attribute(pid)}"
        deployments.append(d)
    every = sync_interval(get_runtime(settings), None)
    d = sync_flow.to_deployment(name=SYNC_FLOW_NAME, interval=every, parameters={"trigger": "schedule"},
                                concurrency_limit=1, tags=["plays"], job_variables=env,
                                entrypoint_type=EntrypointType.MODULE_PATH)
    d.entrypoint = "flows.entry.sync_flow"
    deployments.append(d)
    deploy(*deployments, work_pool_name=pool, build=False, push=False, print_next_steps_message=False,
           ignore_warnings=True)
    return [f"{d.flow_name}/{d.name}" for d in deployments]


def start_worker(pool: str, *, run_once: bool = False) -> None:
    """A process worker on `pool` (blocks until interrupted)."""
    from prefect.workers.process import ProcessWorker

    async def main() -> None:
        async with ProcessWorker(work_pool_name=pool) as worker:
            await worker.start(run_once=run_once)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
