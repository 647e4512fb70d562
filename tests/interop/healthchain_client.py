"""Send requests through HealthChain's ``SandboxClient`` (run with HealthChain's own venv).

Usage: ``<healthchain-venv>/bin/python tests/interop/healthchain_client.py CASES.json OUT.json``
where CASES.json is a list of ``{"id", "url", "hook", "context", "prefetch"}``. Each request is
built with HealthChain's models (``CdsRequestConstructor``, its ``OrderSignContext`` /
``OrderSelectContext``) and sent by ``SandboxClient.send_requests``; OUT.json gets, per id, the
parsed response (``{}`` when HealthChain saw an HTTP error).

Workaround for two defects of HealthChain 0.16.1 as shipped: ``SandboxClient`` builds order
contexts without any context values, so ``OrderSignContext`` fails for lack of ``draftOrders``;
and ``CDSRequest.context`` is typed as the base ``BaseHookContext``, so pydantic serialises only
``userId`` and ``patientId`` and **drops ``draftOrders`` and ``selections``**. Here the request is
built with the context given explicitly, and a ``CDSRequest`` subclass serialises the context
with its own (hook-specific) model; everything else is HealthChain's.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from healthchain.models import CDSRequest
from healthchain.sandbox import SandboxClient
from healthchain.sandbox.requestconstructors import CdsRequestConstructor
from healthchain.sandbox.workflows import Workflow


class FullContextRequest(CDSRequest):  # type: ignore[misc]  # healthchain is untyped
    """``CDSRequest`` whose dump keeps the hook-specific context fields (the workaround)."""

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = super().model_dump(**kwargs)
        dumped["context"] = self.context.model_dump(
            mode="json", exclude_none=kwargs.get("exclude_none", False)
        )
        return dumped


_CONTEXT_FIELDS = ("userId", "patientId", "encounterId", "draftOrders", "selections")


def build(case: dict[str, Any]) -> Any:
    workflow = Workflow(case["hook"])
    context = {k: v for k, v in case["context"].items() if k in _CONTEXT_FIELDS}
    # HealthChain insists on its own userId pattern and string ids; absent ones it generates.
    if not (isinstance(context.get("userId"), str) and "/" in context["userId"]):
        context.pop("userId", None)
    if not isinstance(context.get("encounterId"), str):
        context.pop("encounterId", None)
    shipped = CdsRequestConstructor().construct_request(
        case["prefetch"], workflow=workflow, context=context
    )
    return FullContextRequest(
        hook=shipped.hook,
        hookInstance=shipped.hookInstance,
        context=shipped.context,
        prefetch=shipped.prefetch,
    )


def main(cases_path: str, out_path: str) -> int:
    with open(cases_path, encoding="utf-8") as handle:
        cases = json.load(handle)
    results: dict[str, Any] = {}
    for case in cases:
        client = SandboxClient(url=case["url"], workflow=case["hook"], timeout=30)
        try:
            client.requests.append(build(case))
        except Exception as error:  # HealthChain's own models refused the request
            results[case["id"]] = {"healthchain_error": type(error).__name__}
            continue
        results[case["id"]] = client.send_requests()[0]
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(results, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
