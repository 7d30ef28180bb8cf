"""The ops routes on the public HTTP port: `/health` says only up or down, `/metrics` only to a
scrape token.

Everything else an operator reads (each dependency's state, every Prometheus series, which names
every unit, system and source and which of them are silent) is served by the ops listener on its
own port, loopback by default (`socpipe.ops`, `SOC_OPS_HOST`/`SOC_OPS_PORT`): the public port is
the one every shipper must reach, and it should not hand out a map of the province's blind spots.
"""

from __future__ import annotations

import hmac

import orjson
from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.context import AppContext
from api.media import FILE, file_responses

router = APIRouter()

UP = orjson.dumps({"status": "up"})
DOWN = orjson.dumps({"status": "down"})


@router.get("/health")
def health(request: Request) -> Response:
    """200 `{"status": "up"}` when every dependency answers, else 503 `{"status": "down"}`; which
    dependency failed, and where the store lives, are for the ops listener's `/health`."""
    ctx: AppContext = request.app.state.ctx
    up = all(state.startswith("ok") for state in ctx.health().values())
    return Response(UP if up else DOWN, status_code=200 if up else 503, media_type="application/json")


@router.get(
    "/metrics",
    response_class=FILE,
    responses=file_responses("text/plain", description="Prometheus text exposition"),
)
def metrics(request: Request) -> Response:
    """Only with `SOC_METRICS_TOKEN` set and presented as a bearer token; otherwise 404, as if the
    route did not exist (a scraper without the token learns nothing, not even that it is here)."""
    ctx: AppContext = request.app.state.ctx
    token = ctx.settings.metrics_token
    if token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "scrape token required", headers={"WWW-Authenticate": "Bearer"}
        )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
