"""Run the app under uvicorn inside cProfile and write the stats on shutdown (for `bench.profile --tool cprofile`).

    python -m bench.cprofile_server OUT.pstats HOST PORT

Deterministic, so it shows call counts (statements, flushes, log records per request) that a sampling
profiler cannot; its overhead inflates small Python calls, so read it for proportions and counts, not speed.
"""

from __future__ import annotations

import cProfile
import signal
import sys

import uvicorn


def main() -> None:
    out, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # uvicorn re-raises the SIGTERM it handled once it has shut down; exit normally so the stats get written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, workers=1, access_log=False,
                    log_level="warning", proxy_headers=False)  # as bench.servers.APP_UVICORN_ARGS
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
