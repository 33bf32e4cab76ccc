"""The vocabulary shared by scenarios, anchors and the runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from bench.identity import BenchIdentity


@dataclass(frozen=True)
class Variant:
    """One entry of a request's rotation: its own path, extra headers (over the request's) and body."""

    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: the request's body


@dataclass(frozen=True)
class Request:
    """One HTTP request, sent over and over by the load generator.

    `unique_headers` get a fresh value on every request (e.g. "Idempotency-Key"), so a create scenario
    creates a new row each time instead of replaying the first response.

    `rotation` (optional) is a list of prepared variants the generator walks through in order, one per
    request, continuing across warm-up and rounds: e.g. 2,000 dossiers, so concurrent requests do not queue
    on one row lock, or one signed callback per payment attempt. Concurrent connections take different
    entries. `single_use` marks variants that are only valid once (a first callback): the runner reports
    when the run wrapped round the list, since later requests then measure the duplicate path.
    """

    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    unique_headers: tuple[str, ...] = ()
    rotation: tuple[Variant, ...] = ()
    single_use: bool = False

    @classmethod
    def json(cls, method: str, path: str, body: bytes, headers: Mapping[str, str] | None = None,
             unique_headers: tuple[str, ...] = (), rotation: tuple[Variant, ...] = (),
             single_use: bool = False) -> Request:
        return cls(method, path, {"Content-Type": "application/json", **(headers or {})}, body, unique_headers,
                   rotation, single_use)

    def at(self, index: int) -> tuple[str, dict[str, str], bytes | None]:
        """Path, headers and body of the request number `index` (the rotation entry index mod its length)."""
        if not self.rotation:
            return self.path, dict(self.headers), self.body
        variant = self.rotation[index % len(self.rotation)]
        body = variant.body if variant.body is not None else self.body
        return variant.path, {**self.headers, **variant.headers}, body


@dataclass(frozen=True)
class BenchContext:
    """What a scenario's setup may use: the running app, tokens it accepts, and the bench database."""

    app_url: str
    http: httpx.AsyncClient  # base_url = app_url; for seeding through the real API
    identity: BenchIdentity  # signs tokens the app accepts (its JWKS file is in the app's env)
    database_dsn: str  # plain asyncpg DSN of the bench database, for seeding rows directly


Setup = Callable[[BenchContext], Awaitable[Request]]


@dataclass(frozen=True)
class Scenario:
    """A request against the app, compared with the anchor that does the same work with nothing around it.

    Give either a fixed `request` or an async `setup` that prepares data (accounts, rows, tokens) and
    returns the request to repeat.
    """

    name: str
    anchor: str  # a key of bench.anchors.ANCHORS: "json", "insert" or "pk_read"
    description: str
    request: Request | None = None
    setup: Setup | None = None

    def __post_init__(self) -> None:
        if (self.request is None) == (self.setup is None):
            raise ValueError(f"scenario {self.name}: give exactly one of request= or setup=")

    async def prepare(self, context: BenchContext) -> Request:
        if self.setup is not None:
            return await self.setup(context)
        assert self.request is not None
        return self.request


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    errors: int  # transport errors, timeouts and non-2xx/3xx answers
    p50_ms: float
    p99_ms: float
    issued: int = 0  # requests started (>= requests): how far a rotation advanced
    cpu_s: float = 0.0  # CPU seconds the serving process (and its workers) spent during the load

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        """The server's CPU per answered request: unlike req/s, it does not move with what else the machine runs."""
        return self.cpu_s * 1e6 / self.requests if self.requests and self.cpu_s else None

    @classmethod
    def combine(cls, rounds: list[Measurement]) -> Measurement:
        """Rounds of one target: counts add up; p50 is the median of the rounds' p50, p99 the worst p99
        (percentiles cannot be merged exactly from summaries; this errs on the pessimistic side)."""
        p50s = sorted(m.p50_ms for m in rounds)
        return cls(requests=sum(m.requests for m in rounds), seconds=sum(m.seconds for m in rounds),
                   errors=sum(m.errors for m in rounds), p50_ms=p50s[(len(p50s) - 1) // 2],
                   p99_ms=max(m.p99_ms for m in rounds), issued=sum(m.issued for m in rounds),
                   cpu_s=sum(m.cpu_s for m in rounds))
