"""`dvc worker` loop and `dvc payments reconcile`: tasks run when due, failures do not stop the loop, a stop
signal ends it promptly; the fees domain registers its reconciliation task."""

from __future__ import annotations

import asyncio
import time

import httpx
from typer.testing import CliRunner

from app.core import worker
from app.core.worker import PeriodicTask, run_worker
from tests.fees.conftest import BEFORE_TOTAL, Fees


async def test_loop_runs_due_tasks_survives_failures_and_stops() -> None:
    runs: list[str] = []

    async def fast() -> None:
        runs.append("fast")

    async def broken() -> None:
        runs.append("broken")
        raise RuntimeError("boom")

    stop = asyncio.Event()
    tasks = [PeriodicTask("fast", 0.01, fast), PeriodicTask("broken", 0.01, broken),
             PeriodicTask("slow", 3600, fast)]
    loop_task = asyncio.create_task(run_worker(stop, tasks=tasks))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(loop_task, timeout=2)
    assert time.monotonic() - started < 1
    assert runs.count("fast") > 3 and runs.count("broken") > 3  # the broken task did not stop the loop


async def test_once_runs_each_task_once() -> None:
    runs: list[int] = []

    async def task() -> None:
        runs.append(1)

    await run_worker(asyncio.Event(), tasks=[PeriodicTask("a", 60, task), PeriodicTask("b", 60, task)], once=True)
    assert runs == [1, 1]


def test_fees_registers_reconciliation() -> None:
    worker.load_domain_tasks()
    assert "payments.reconcile" in worker.registered_tasks()


async def test_cli_reconcile_settles_a_lost_callback(client: httpx.AsyncClient, fees: Fees) -> None:
    import typer

    from app.fees.commands import register

    case = await fees.case(client)
    await fees.request_payment(client, case)
    attempt = await fees.pay(client, case)
    fees.bank.complete(str(attempt["provider_ref"]), mode="never")
    cli = typer.Typer()
    register(cli)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["payments", "reconcile", "--older-than-s", "0"])
    assert result.exit_code == 0, result.output
    assert "settled=1" in result.output
    assert (await fees.fees_of(client, case))["paid"] == BEFORE_TOTAL
