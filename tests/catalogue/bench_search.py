"""Search latency over 10,000 generated procedures on PostgreSQL: the service's SQL and GET /v1/procedures.

    .venv/bin/python -m tests.catalogue.bench_search [postgresql+asyncpg://.../db]

Without a URL it creates (and drops) a scratch database on the local server. Not collected by pytest.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid

import asyncpg

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
QUERIES = ["cap giay phep", "Cấp giấy chứng nhận", "gia han chung chi hanh nghe", "an toan thuc pham",
           "đăng ký kinh doanh hộ gia đình", "xang dau", "buc xa y te", "thu hoi giay phep xay dung",
           "cong bo", "khoa hoc cong nghe"]


async def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else None
    name = None
    if url is None:
        name = f"dvc_bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(SERVER)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    os.environ.update(DVC_DATABASE_URL=url, DVC_ENV="test", DVC_PUBLIC_RATE_LIMIT_PER_MIN="0",
                      DVC_LOG_LEVEL="WARNING")
    try:
        subprocess.run([".venv/bin/alembic", "upgrade", "heads"], check=True, capture_output=True)
        from app.catalogue.generate import generate_procedures
        from app.catalogue.search import search_procedures
        from app.core.db import get_database
        from app.core.pagination import PageParams
        db = get_database()
        async with db.write_sessions() as s, s.begin():
            await generate_procedures(s, 10_000)
        async with db.write_engine.connect() as c:
            from sqlalchemy import text
            await c.execute(text("ANALYZE procedure_versions"))
            await c.commit()
        sql, http = [], []
        async with db.read_sessions() as s:
            for _ in range(5):
                for q in QUERIES:
                    t = time.perf_counter()
                    await search_procedures(s, PageParams(limit=20, cursor=None), q=q)
                    sql.append((time.perf_counter() - t) * 1000)
        import httpx

        from app.main import create_app
        app = create_app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for _ in range(5):
                for q in QUERIES:
                    t = time.perf_counter()
                    r = await client.get("/v1/procedures", params={"q": q, "limit": 20})
                    http.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text
        for label, xs in (("service (SQL)", sql), ("GET /v1/procedures?q= (ASGI)", http)):
            xs.sort()
            p95 = xs[int(len(xs) * 0.95) - 1]
            print(f"{label}: n={len(xs)} p50={statistics.median(xs):.2f} ms p95={p95:.2f} ms")
        await db.dispose()
    finally:
        if name:
            conn = await asyncpg.connect(SERVER)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()

if __name__ == "__main__":
    asyncio.run(main())
