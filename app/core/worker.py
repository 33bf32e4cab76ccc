"""`dvc worker`: the long-running background process — one loop over registered periodic tasks.

Domains register their tasks in `app/<domain>/tasks.py` (imported at start):

    register_task("payments.reconcile", 60.0, reconcile_payments)

The loop runs each task when it falls due, one at a time; a failing task is logged and retried at its next
interval. SIGTERM/SIGINT stop the loop after the task in hand finishes (no task is cut mid-transaction).
Several workers may run at once: each task must be safe to run concurrently with itself (row locks with
SKIP LOCKED on PostgreSQL, compare-and-set on state, BEGIN IMMEDIATE on SQLite).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import typer

log = logging.getLogger("app.worker")

DOMAINS = ("identity", "catalogue", "dossiers", "workflow", "fees", "reporting", "integration", "notifications")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval_s: float
    run: Callable[[], Awaitable[Any]]


_tasks: dict[str, PeriodicTask] = {}


def register_task(name: str, interval_s: float, coroutine_fn: Callable[[], Awaitable[Any]]) -> None:
    """Add (or replace, by name) a periodic task."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    _tasks[name] = PeriodicTask(name, interval_s, coroutine_fn)


def registered_tasks() -> dict[str, PeriodicTask]:
    return dict(_tasks)


def load_domain_tasks() -> None:
    for domain in DOMAINS:
        module_name = f"app.{domain}.tasks"
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise


async def run_task(task: PeriodicTask) -> bool:
    started = time.monotonic()
    try:
        await task.run()
    except Exception:
        log.exception("worker task %s failed", task.name)
        return False
    log.info("worker task %s done in %.3f s", task.name, time.monotonic() - started)
    return True


async def run_worker(stop: asyncio.Event, *, tasks: list[PeriodicTask] | None = None,
                     once: bool = False) -> list[str]:
    """Run tasks as they fall due until `stop` is set (or, with `once`, run each task once and return the names
    of those that failed)."""
    chosen = list(_tasks.values()) if tasks is None else tasks
    if once:
        failed: list[str] = []
        for task in chosen:
            if stop.is_set():
                break
            if not await run_task(task):
                failed.append(task.name)
        return failed
    next_run = {task.name: time.monotonic() for task in chosen}
    while not stop.is_set() and chosen:
        task = min(chosen, key=lambda t: next_run[t.name])
        delay = next_run[task.name] - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return []  # stopped while idle
            except TimeoutError:
                pass
        await run_task(task)
        next_run[task.name] = time.monotonic() + task.interval_s
    return []


async def _main(tasks: list[PeriodicTask], once: bool) -> list[str]:
    from app.core.db import close_database

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started with tasks: %s", ", ".join(t.name for t in tasks) or "none")
    try:
        failed = await run_worker(stop, tasks=tasks, once=once)
    finally:
        await close_database()
    log.info("worker stopped")
    return failed


def register(cli: typer.Typer) -> None:
    @cli.command("worker")
    def worker(
        only: list[str] = typer.Option([], "--only", help="Run only these tasks (repeatable)."),
        once: bool = typer.Option(False, "--once", help="Run every task once, then exit."),
    ) -> None:
        """Run the background loop of periodic tasks (payments reconciliation, ...) until SIGTERM."""
        from app.core import pdfsign
        from app.core.logging import configure_logging
        from app.core.settings import get_settings

        configure_logging(get_settings().log_level)
        pdfsign.announce()  # the worker issues notices too (attached to emails)
        load_domain_tasks()
        unknown = sorted(set(only) - set(_tasks))
        if unknown:  # a misspelt name would otherwise run nothing, silently, forever
            typer.echo(f"worker: unknown task(s) {', '.join(unknown)}; known: {', '.join(sorted(_tasks))}",
                       err=True)
            raise typer.Exit(2)
        failed = asyncio.run(_main([t for t in _tasks.values() if not only or t.name in only], once))
        if failed:  # `--once` from cron or a job runner: a failed pass must not look like success
            typer.echo(f"worker: {len(failed)} task(s) failed: {', '.join(failed)} (see the log)", err=True)
            raise typer.Exit(1)
