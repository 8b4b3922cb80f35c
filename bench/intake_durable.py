"""The intake's durable baseline: the least a correct intake does, as its own server process.

Starlette under uvicorn (as ``wolaiban run`` serves), Twilio's signature checked, one
``INSERT … ON CONFLICT DO NOTHING`` and a commit per request on SQLite (WAL,
synchronous=NORMAL), the TwiML answer naming the row's id; a Telegram update (secret header
checked) is one committed row too. What ``wolaiban run`` does beyond this is its own cost.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.common import PYTHON
from sandbox.child import Process, clean_env, wait_ready
from sandbox.harness import WEBHOOK_SECRET
from sandbox.serve import free_port

DURABLE_TOKEN = "d" * 32  # the durable server's Twilio auth token (its requests are signed so)

DURABLE_SERVER = """
import json, sqlite3, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

port, path, token, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
public = f"http://127.0.0.1:{port}"
db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute(
    "CREATE TABLE IF NOT EXISTS receipt (id INTEGER PRIMARY KEY, source TEXT, external_id TEXT,"
    " UNIQUE (source, external_id))"
)
validator = RequestValidator(token)
INSERT = (
    "INSERT INTO receipt (source, external_id) VALUES (?, ?)"
    " ON CONFLICT DO NOTHING RETURNING id"
)

def commit_one(source, external_id):
    db.execute("BEGIN IMMEDIATE")
    row = db.execute(INSERT, (source, external_id)).fetchone()
    if row is None:
        row = db.execute(
            "SELECT id FROM receipt WHERE source = ? AND external_id = ?", (source, external_id)
        ).fetchone()
    db.execute("COMMIT")
    return row[0]

async def sms(request):
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not validator.validate(public + "/twilio/sms", params, signature):
        return Response(status_code=403)
    number = commit_one("sms", params["MessageSid"])
    twiml = f"<?xml version='1.0'?><Response><Message>#{number}</Message></Response>"
    return Response(twiml, media_type="application/xml")

async def telegram(request):
    if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
        return Response(status_code=403)
    update = json.loads(await request.body())
    commit_one("telegram", str(update["update_id"]))
    return Response(status_code=200)

async def ok(request):
    return Response(status_code=200)

app = Starlette(routes=[
    Route("/twilio/sms", sms, methods=["POST"]),
    Route("/telegram/webhook", telegram, methods=["POST"]),
    Route("/", ok, methods=["GET"]),
])
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False)
"""


@asynccontextmanager
async def durable_server(workdir: Path) -> AsyncIterator[Process]:
    """The durable baseline in its own process, its database in ``workdir``."""
    port = free_port()
    database = workdir / "durable.db"
    argv = [PYTHON, "-c", DURABLE_SERVER, str(port), str(database), DURABLE_TOKEN, WEBHOOK_SECRET]
    process = Process(
        clean_env(HTTP_PORT=str(port)), workdir / "durable.log", cwd=workdir, argv=argv
    )
    process.start()
    try:
        await wait_ready(process, "/")
        yield process
    finally:
        process.stop()


if __name__ == "__main__":  # pragma: no cover - the script is run by the bench only
    sys.exit("run bench/intake.py")
