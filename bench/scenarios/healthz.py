"""Liveness: the whole app stack (middleware, problem handlers, metrics, logs) around fixed JSON."""

from bench.model import Request, Scenario

SCENARIO = Scenario(
    name="healthz",
    anchor="json",
    description="GET /healthz vs a bare FastAPI endpoint returning fixed JSON",
    request=Request("GET", "/healthz"),
)
