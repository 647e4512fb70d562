""" "The limit": the least an ASGI order-sign endpoint can do on this machine.

It reads the body, parses the JSON (orjson, the fastest parser the service may use) and answers
``{"cards": []}``. Anything the real service spends beyond this is its own work, so the ratio
service/limit tells how much of the latency is ours rather than uvicorn's and the network's.

Run: ``uvicorn bench.limit_app:app --host 127.0.0.1 --port 8001``
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

EMPTY = orjson.dumps({"cards": []})


async def order_sign(request: Request) -> Response:
    """Parse the hook request like any service must, then answer no cards."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return Response(b'{"error":"invalid-json"}', status_code=400, media_type="application/json")
    if not isinstance(body, dict) or "context" not in body:
        return Response(
            b'{"error":"invalid-request"}', status_code=400, media_type="application/json"
        )
    return Response(EMPTY, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/cds-services/{service_id}", order_sign, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
