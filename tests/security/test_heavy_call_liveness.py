"""A heavy call in flight must not stop the service from answering ``/healthz`` (issue 11).

The heavy call is real work, not a sleep: about 4 MB of MS Conditions, each relevant to the
rules and carrying a thousand notes, so that every one goes through FHIR model validation
(seconds of CPU in total). While it runs, ``/healthz`` is polled over real HTTP; every probe
sent while the heavy call is worked on must answer quickly. Evaluated on the event loop,
each of those probes waited for the whole call.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import orjson

from cds_service.offload import HEAVY_BODY_BYTES
from tests.contract.builders import hook_request, patient, rrms_condition, searchset
from tests.support.server import LiveServer

PROBE_LIMIT_S = 1.0


def heavy_request(conditions: int = 180, notes: int = 1_000) -> dict[str, Any]:
    """Unique content on every call: the validation cache must not make it light."""
    salt = uuid.uuid4().hex[:8]
    records = []
    for number in range(conditions):
        record = rrms_condition()
        record["id"] = f"rrms-{salt}-{number}"
        record["note"] = [{"text": f"note {number}-{n}"} for n in range(notes)]
        records.append(record)
    prefetch = {
        "patient": patient(),
        "conditions": searchset(*records),
        "observations": None,
        "medicationRequests": None,
    }
    return hook_request("order-sign", prefetch=prefetch)


def test_healthz_answers_while_a_heavy_call_is_evaluated(live_server: LiveServer) -> None:
    body = orjson.dumps(heavy_request())
    assert HEAVY_BODY_BYTES <= len(body) < 5 * 1024 * 1024
    heavy: dict[str, Any] = {}

    def post_heavy() -> None:
        started = time.monotonic()
        response = httpx.post(
            f"{live_server.url}/cds-services/natalizumab-order-sign",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        heavy.update(status=response.status_code, started=started, ended=time.monotonic())
        heavy["topics"] = [c["source"]["topic"]["code"] for c in response.json()["cards"]]

    thread = threading.Thread(target=post_heavy)
    thread.start()
    probes: list[tuple[float, float]] = []
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        client.get("/healthz")  # connection open before the heavy call starts its work
        while thread.is_alive() and len(probes) < 500:
            started = time.monotonic()
            assert client.get("/healthz").status_code == 200
            probes.append((started, time.monotonic()))
            time.sleep(0.02)
    thread.join(timeout=120)

    assert heavy["status"] == 200 and "natalizumab-indicated" in heavy["topics"]
    # Probes sent while the heavy call was in flight.
    during = [end - begin for begin, end in probes if heavy["started"] < begin < heavy["ended"]]
    assert heavy["ended"] - heavy["started"] > 1.0, "the heavy call was not heavy"
    assert during, "no probe was sent during the heavy call"
    assert max(during) < PROBE_LIMIT_S, f"/healthz waited {max(during):.2f} s behind a heavy call"
    assert len(during) >= 3, f"too few probes answered during the heavy call: {len(during)}"


def test_light_calls_stay_on_the_event_loop_and_heavy_ones_leave_it() -> None:
    import asyncio

    from cds_service.offload import HEAVY_RESOURCES, run_sized

    async def where(resources: int) -> bool:
        loop_thread = threading.get_ident()
        return await run_sized(lambda: threading.get_ident() == loop_thread, resources=resources)

    assert asyncio.run(where(10)) is True
    assert asyncio.run(where(HEAVY_RESOURCES)) is False
