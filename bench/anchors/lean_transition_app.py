"""Reference anchor: a workflow transition written straight on asyncpg, the shape of the rewrite issue 7's target
needs (bench/PROFILE.md, "Session 3"). What it would cost, measured, before anyone decides to build it.

Per request, like the app's `transition` scenario (appraise with `If-Match: *` over 2,000 dossiers): the bearer
token verified once and then taken from a cache (as app/identity/tokens.py does), the account looked up on every
request (a suspension must bite at once), the dossier with its progress row read, the role and ETag checked, the
next history entry hash-chained (SHA-256 over the previous hash and canonical JSON), and every write in ONE
statement: a data-modifying CTE that compare-and-sets the dossier's version, moves the progress row's chain head,
closes the open step and opens the next, appends the history entry and the outbox event, all or nothing. Three
round trips (lookup, read, write), like the insert anchor's BEGIN, INSERT, COMMIT; the answer is a dossier-sized
JSON document. Its own tables (`bench_lean_*`), not the app's: this is a measurement, not a second implementation.
HS256 with a bench-only secret: the signature is checked once per token, so the algorithm does not show.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi import Request as HttpRequest
from jose import jwt
from pydantic import BaseModel

from bench.anchors.pool import pool_lifespan
from bench.model import Request, Variant

DOSSIERS = 2_000
SECRET = "bench-only-secret"  # signs the anchor's own token, trusted by nothing else
ISSUER, AUDIENCE, SUBJECT = "https://idp.lean.bench", "dvc-service", "lean-official"
AGENCY = "LEAN.BENCH"
GENESIS = "0" * 64


def dossier_id(n: int) -> uuid.UUID:
    """The same ids as the seed's md5(n::text)::uuid."""
    return uuid.UUID(hashlib.md5(str(n).encode()).hexdigest())  # an id, not a digest


DDL = """
CREATE TABLE bench_lean_accounts (issuer text, subject text, id uuid NOT NULL, status text NOT NULL,
    agency_code text NOT NULL, roles jsonb NOT NULL, name text NOT NULL, PRIMARY KEY (issuer, subject));
CREATE TABLE bench_lean_dossiers (id uuid PRIMARY KEY, code text NOT NULL, procedure_code text NOT NULL,
    procedure_name text NOT NULL, agency_code text NOT NULL, applicant_name text NOT NULL, state text NOT NULL,
    national_status_code int NOT NULL, form jsonb NOT NULL, submitted_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL, due_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    version int NOT NULL);
CREATE TABLE bench_lean_progress (dossier_id uuid PRIMARY KEY REFERENCES bench_lean_dossiers (id),
    history_seq int NOT NULL, history_hash text NOT NULL, step_started_at timestamptz NOT NULL,
    paused_working_days int NOT NULL DEFAULT 0, original_due_at timestamptz);
CREATE TABLE bench_lean_history (dossier_id uuid NOT NULL, seq int NOT NULL, action text NOT NULL,
    from_state text, to_state text NOT NULL, from_code int, to_code int, actor_id uuid, actor_name text,
    at timestamptz NOT NULL, details jsonb NOT NULL, prev_hash text NOT NULL, hash text NOT NULL,
    PRIMARY KEY (dossier_id, seq));
CREATE TABLE bench_lean_steps (id uuid PRIMARY KEY, dossier_id uuid NOT NULL, step text NOT NULL,
    history_seq int NOT NULL, holder_id uuid, started_at timestamptz NOT NULL, ended_at timestamptz);
CREATE INDEX ON bench_lean_steps (dossier_id) WHERE ended_at IS NULL;
CREATE TABLE bench_lean_outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL, event_type text NOT NULL,
    aggregate_id uuid NOT NULL, payload jsonb NOT NULL, created_at timestamptz NOT NULL)
"""
SEED = f"""
INSERT INTO bench_lean_accounts VALUES ('{ISSUER}', '{SUBJECT}', gen_random_uuid(), 'active', '{AGENCY}',
    '["reception", "processing", "approval"]', 'Lean official');
INSERT INTO bench_lean_dossiers
SELECT md5(n::text)::uuid, '{AGENCY}-261124-' || lpad(n::text, 4, '0'), '1.001', 'Thủ tục mẫu', '{AGENCY}',
       'Nguyễn Văn A', 'processing', 4, '{{"ho_ten": "Nguyễn Văn A"}}', now(), now(), now() + interval '5 days',
       now(), 1
FROM generate_series(1, {DOSSIERS}) AS n;
INSERT INTO bench_lean_progress (dossier_id, history_seq, history_hash, step_started_at)
SELECT id, 0, '{GENESIS}', now() FROM bench_lean_dossiers;
INSERT INTO bench_lean_steps (id, dossier_id, step, history_seq, started_at)
SELECT gen_random_uuid(), id, 'processing', 0, now() FROM bench_lean_dossiers;
ANALYZE bench_lean_accounts; ANALYZE bench_lean_dossiers; ANALYZE bench_lean_progress; ANALYZE bench_lean_steps
"""

GATE = "SELECT id, status, agency_code, roles, name FROM bench_lean_accounts WHERE issuer = $1 AND subject = $2"
READ = """
SELECT d.id, d.code, d.procedure_code, d.procedure_name, d.agency_code, d.applicant_name, d.state,
       d.national_status_code, d.form, d.submitted_at, d.received_at, d.due_at, d.version,
       p.history_seq, p.history_hash, p.paused_working_days, p.original_due_at
FROM bench_lean_dossiers d JOIN bench_lean_progress p ON p.dossier_id = d.id WHERE d.id = $1
"""
# $1 dossier, $2 version read, $3 new seq, $4 new hash, $5 prev hash, $6 now, $7 action, $8 state, $9 code,
# $10 actor id, $11 actor name, $12 history details, $13 outbox payload, $14 new step id, $15 step name
WRITE = """
WITH d AS (
    UPDATE bench_lean_dossiers SET version = version + 1, updated_at = $6 WHERE id = $1 AND version = $2
    RETURNING version),
p AS (
    UPDATE bench_lean_progress SET history_seq = $3, history_hash = $4, step_started_at = $6
    WHERE dossier_id = $1 AND history_seq = $3 - 1 AND EXISTS (SELECT FROM d) RETURNING 1),
closed AS (
    UPDATE bench_lean_steps SET ended_at = $6
    WHERE dossier_id = $1 AND ended_at IS NULL AND EXISTS (SELECT FROM p) RETURNING 1),
opened AS (
    INSERT INTO bench_lean_steps (id, dossier_id, step, history_seq, holder_id, started_at)
    SELECT $14, $1, $15, $3, $10, $6 WHERE EXISTS (SELECT FROM p)),
h AS (
    INSERT INTO bench_lean_history (dossier_id, seq, action, from_state, to_state, from_code, to_code, actor_id,
                                    actor_name, at, details, prev_hash, hash)
    SELECT $1, $3, $7, $8, $8, $9, $9, $10, $11, $6, $12::jsonb, $5, $4 WHERE EXISTS (SELECT FROM p)),
o AS (
    INSERT INTO bench_lean_outbox (event_id, event_type, aggregate_id, payload, created_at)
    SELECT gen_random_uuid(), 'dossier.status_changed', $1, $13::jsonb, $6 WHERE EXISTS (SELECT FROM p))
SELECT version FROM d
"""


def token() -> str:
    now = int(time.time())
    return str(jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "exp": now + 86_400},
                          SECRET, algorithm="HS256"))


REQUEST = Request.json(
    "POST", f"/dossiers/{dossier_id(1)}/transitions", b'{"action": "appraise"}',
    headers={"Authorization": f"Bearer {token()}", "If-Match": "*"},
    rotation=tuple(Variant(f"/dossiers/{dossier_id(n)}/transitions") for n in range(1, DOSSIERS + 1)))

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=pool_lifespan)
_verified: dict[str, dict[str, Any]] = {}


class TransitionIn(BaseModel):
    action: str
    reason: str | None = None


class DossierOut(BaseModel):
    id: uuid.UUID
    code: str
    procedure_code: str
    procedure_name: str
    agency_code: str
    applicant_name: str
    state: str
    national_status_code: int
    form: dict[str, Any]
    submitted_at: datetime
    received_at: datetime
    due_at: datetime
    original_due_at: datetime | None
    paused_working_days: int
    version: int
    next_actions: list[str]


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@app.post("/dossiers/{dossier_id}/transitions")
async def transition(dossier_id: uuid.UUID, body: TransitionIn, request: HttpRequest,
                     authorization: str = Header(), if_match: str | None = Header(None)) -> DossierOut:
    raw = authorization.removeprefix("Bearer ")
    claims = _verified.get(raw)
    if claims is None or claims["exp"] < time.time():
        claims = _verified[raw] = jwt.decode(raw, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    pool = request.app.state.pool
    account = await pool.fetchrow(GATE, claims["iss"], claims["sub"])
    if account is None or account["status"] != "active":
        raise HTTPException(403, "account_not_registered")
    if if_match is None:
        raise HTTPException(428, "precondition_required")
    row = await pool.fetchrow(READ, dossier_id)
    if row is None:
        raise HTTPException(404, "not_found")
    if if_match != "*" and if_match != f'"{row["version"]}"':
        raise HTTPException(412, "precondition_failed")
    if (body.action != "appraise" or row["state"] != "processing" or account["agency_code"] != row["agency_code"]
            or "processing" not in json.loads(account["roles"])):
        raise HTTPException(409, "transition_not_allowed")
    now = datetime.now(UTC)
    seq, prev = row["history_seq"] + 1, row["history_hash"]
    details = {"step": "appraise"}
    entry = {"dossier_id": str(dossier_id), "seq": seq, "action": body.action, "from": row["state"],
             "to": row["state"], "from_code": row["national_status_code"], "to_code": row["national_status_code"],
             "actor": {"id": str(account["id"]), "kind": "official", "name": account["name"]},
             "at": now.isoformat(timespec="microseconds"), "reason": body.reason, "details": details}
    digest = hashlib.sha256((prev + _canonical(entry)).encode()).hexdigest()
    payload = {"dossier_id": str(dossier_id), "code": row["code"], "action": body.action, "from": row["state"],
               "to": row["state"], "national_status_code": row["national_status_code"], "at": now.isoformat(),
               "agency_code": row["agency_code"], "procedure_code": row["procedure_code"]}
    version = await pool.fetchval(WRITE, dossier_id, row["version"], seq, digest, prev, now, body.action,
                                  row["state"], row["national_status_code"], account["id"], account["name"],
                                  json.dumps(details), json.dumps(payload), uuid.uuid4(), "appraise")
    if version is None:
        raise HTTPException(412, "precondition_failed")
    return DossierOut(id=row["id"], code=row["code"], procedure_code=row["procedure_code"],
                      procedure_name=row["procedure_name"], agency_code=row["agency_code"],
                      applicant_name=row["applicant_name"], state=row["state"],
                      national_status_code=row["national_status_code"], form=json.loads(row["form"]),
                      submitted_at=row["submitted_at"], received_at=row["received_at"], due_at=row["due_at"],
                      original_due_at=row["original_due_at"], paused_working_days=row["paused_working_days"],
                      version=version, next_actions=["appraise", "approve", "request_supplement", "stop"])
