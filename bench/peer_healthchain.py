"""'The peer': a minimal natalizumab order-sign service built on HealthChain (PyPI ``healthchain``).

HealthChain is a FastAPI-based SDK whose ``CDSHooksService`` validates the request into its
``CDSRequest`` model (``OrderSignContext`` for this hook) and whose ``CdsFhirAdapter`` turns each
prefetch value into ``fhir.resources`` R4B models. The handler below does exactly that and answers
one static card, so the peer pays for parsing the same request with a framework's models but for
no clinical logic at all: our service is expected to do far more per call and still be faster.

It runs only in its own virtual environment (``bench/.venv-healthchain``, made by
``bench/run.py`` from ``bench/requirements-healthchain.txt``) because HealthChain pins older
FastAPI and fhir.resources than the service. Choices in the peer's favour: events and CORS are
off (the documented defaults turn them on), and uvicorn runs with the same uvloop/httptools.

Endpoint: ``POST /cds/cds-services/natalizumab-order-sign``.
Run: ``bench/.venv-healthchain/bin/python -m uvicorn --app-dir bench peer_healthchain:app``
"""

from __future__ import annotations

import logging
from typing import Any

from healthchain.fhir.version import set_default_version
from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.io.adapters.cdsfhiradapter import CdsFhirAdapter
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import Card, CDSResponse, Source

set_default_version("R4B")  # the EHR sends FHIR R4; HealthChain's R4B models read it
# The adapter warns on every call that no clinical note was prefetched; silence it (peer's favour).
logging.getLogger("healthchain.io.adapters.cdsfhiradapter").setLevel(logging.ERROR)

app = HealthChainAPI(
    title="natalizumab peer", enable_cors=False, enable_events=False, service_type="cds"
)
cds = CDSHooksService(use_events=False)
adapter = CdsFhirAdapter(hook_name="order-sign")

CARD = Card(
    summary="Natalizumab ordered: review indication and PML risk",
    indicator="info",
    source=Source(label="HealthChain peer (benchmark)"),
)


@cds.hook(  # type: ignore[untyped-decorator]  # healthchain is untyped
    "order-sign", id="natalizumab-order-sign", title="Natalizumab order-sign (peer)"
)
def order_sign(request: CDSRequest) -> CDSResponse:
    """Parse every prefetched resource into FHIR models, count them, answer one static card."""
    document = adapter.parse(request)
    resources: dict[str, Any] = document.fhir.prefetch_resources or {}
    parsed = sum(len(getattr(value, "entry", None) or [value]) for value in resources.values())
    if parsed == 0:
        return CDSResponse(cards=[])
    return CDSResponse(cards=[CARD])


app.register_service(cds)
