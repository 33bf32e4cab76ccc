"""Issue 6: uploading a 100 MiB file raises the server's RSS by < 20 MiB.

    .venv/bin/python -m bench.upload_rss [--mib 100] [--no-write]

Creates its own PostgreSQL database (dropped at the end), starts the app under uvicorn (1 worker,
DVC_MAX_UPLOAD_BYTES = the file + 16 MiB), publishes a procedure whose optional part `ban_chup` accepts
application/pdf up to the file's size + 8 MiB, registers a citizen, creates a draft, then streams a
PDF-looking file (a `%PDF-1.7` header, filler, `%%EOF`) of --mib MiB as multipart/form-data to
`POST /v1/dossiers/{id}/attachments` in 1 MiB chunks, never holding it in the client either. A thread samples
the server's VmRSS from /proc/<pid>/status every 10 ms: before (after a warm-up upload of 1 MiB, so lazily
imported code is already in), the peak during, and after the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx

from bench import seed
from bench.database import BenchDatabase, find_user
from bench.identity import BenchIdentity
from bench.model import BenchContext
from bench.report import _commit, _machine, write
from bench.servers import Server

MIB = 1024 * 1024
BOUNDARY = "dvcbench" + uuid.uuid4().hex


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def multipart(part: str, size: int) -> tuple[int, Iterator[bytes]]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"part\"\r\n\r\n{part}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ban-chup.pdf\"\r\n"
            "Content-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    pdf_head, pdf_tail = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"
    filler = (b"0 0 0 rg 10 10 100 100 re f\n" * (MIB // 28 + 1))[:MIB]

    def chunks() -> Iterator[bytes]:
        yield head + pdf_head
        left = size - len(pdf_head) - len(pdf_tail)
        while left > 0:
            chunk = filler[:min(MIB, left)]
            left -= len(chunk)
            yield chunk
        yield pdf_tail + tail

    return len(head) + size + len(tail), chunks()


def upload(url: str, path: str, headers: dict[str, str], size: int) -> httpx.Response:
    length, body = multipart("ban_chup", size)
    with httpx.Client(base_url=url, timeout=300) as client:
        return client.post(path, content=body, headers={
            **headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(length)})


async def prepare(app_url: str, identity: BenchIdentity, dsn: str, size: int) -> tuple[str, dict[str, str]]:
    _, code = await seed.procedure(dsn, [{"key": "ban_chup", "name": "Bản chụp", "required": False,
                                          "media_types": ["application/pdf"], "max_bytes": size + 8 * MIB}])
    async with httpx.AsyncClient(base_url=app_url, timeout=30) as http:
        ctx = BenchContext(app_url=app_url, http=http, identity=identity, database_dsn=dsn)
        headers = await seed.register_citizen(ctx, "001099000104")
        created = await http.post("/v1/dossiers", headers=headers, json={"procedure_code": code})
        if created.status_code != 201:
            raise RuntimeError(f"upload_rss setup: {created.status_code} {created.text[-300:]}")
    return f"/v1/dossiers/{created.json()['id']}/attachments", headers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    size = args.mib * MIB
    started = datetime.now().astimezone()
    database = BenchDatabase(asyncio.run(find_user()), f"dvc_bench_upload_{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="dvc-bench-upload-") as tmp:
        work = Path(tmp)
        identity = BenchIdentity(work)
        app = Server("app", "app.main:create_app", work, factory=True, env={
            "DVC_ENV": "test", "DVC_DATABASE_URL": database.sqlalchemy_url, "DVC_LOG_LEVEL": "INFO",
            "DVC_STORAGE_DIR": str(work / "files"), "DVC_VAR_DIR": str(work / "var"),
            "DVC_MAX_UPLOAD_BYTES": str(size + 16 * MIB), **identity.env()})
        try:
            asyncio.run(database.create())
            database.migrate()
            app.start()
            app.wait_ready("/readyz")
            assert app.process is not None
            pid = app.process.pid
            path, headers = asyncio.run(prepare(app.url, identity, database.dsn, size))
            warm = upload(app.url, path, headers, MIB)  # imports and first-use allocations out of the figure
            if warm.status_code != 201:
                raise RuntimeError(f"warm-up upload: {warm.status_code} {warm.text[-300:]}")
            time.sleep(0.5)
            before = rss_kib(pid)
            samples: list[int] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples.append(rss_kib(pid))
                    stop.wait(0.01)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            began = time.perf_counter()
            answer = upload(app.url, path, headers, size)
            seconds = time.perf_counter() - began
            stop.set()
            sampler.join(5)
            time.sleep(0.5)
            after = rss_kib(pid)
            if answer.status_code != 201:
                raise RuntimeError(f"upload: {answer.status_code} {answer.text[-300:]}")
            stored = answer.json()
        finally:
            app.stop()
            asyncio.run(database.drop())
    peak = max([*samples, before])
    growth_mib = (peak - before) / 1024
    lines = [f"## upload_rss {started:%Y-%m-%d %H:%M:%S %Z}", "",
             f"Commit {_commit()}; {_machine()}; `python -m bench.upload_rss`: {args.mib} MiB PDF-looking file "
             "streamed as multipart/form-data to `POST /v1/dossiers/{id}/attachments` (uvicorn 1 worker, "
             f"DVC_MAX_UPLOAD_BYTES={size + 16 * MIB}); VmRSS sampled every 10 ms ({len(samples)} samples).", "",
             "| RSS before MiB | peak during MiB | after MiB | peak - before MiB | upload s | stored bytes |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {before / 1024:.1f} | {peak / 1024:.1f} | {after / 1024:.1f} | {growth_mib:.1f} | {seconds:.2f} |"
             f" {stored.get('size', stored.get('size_bytes', '?'))} |", "",
             f"Growth {growth_mib:.1f} MiB (target < 20 MiB).", ""]
    section = "\n".join(lines)
    print("\n" + section)
    if not args.no_write:
        print(f"upload_rss: written to {write(section, started)}")
    return 0 if growth_mib < 20 else 1


if __name__ == "__main__":
    raise SystemExit(main())
