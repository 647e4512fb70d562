"""Fetching prefetch data the EHR did not send, from its ``fhirServer``.

The service holds the EHR's bearer token while it fetches, and the URL comes from the
request, so every fetch is fenced: the caller has already checked the allow-list; redirects
are never followed (a 3xx could lead the token elsewhere); Bundle ``next`` links are followed
only while they stay under the same ``fhirServer`` and only up to ``fhir_max_pages``; each
key's download is capped in bytes (streamed and aborted) and in time; every resource read
counts against the call-wide budget; no cookies are kept and no proxy settings are read from
the environment. A key cut short by a cap or a failing later page keeps the pages read and is
reported incomplete, so the cards can say so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson

from cds_service.config import Settings
from cds_service.protocol.allowlist import is_within_server
from cds_service.protocol.budget import ResourceBudget, too_many_resources
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import TOO_MANY_RESOURCES, check_json_limits


class FetchError(Exception):
    """A fetch that yielded no usable data; ``reason`` is a short, bounded label for metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """One shared client per app (connection reuse) that never keeps cookies between calls."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.fhir_total_timeout_s, connect=settings.fhir_connect_timeout_s
        ),
        follow_redirects=False,
        trust_env=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"Accept": "application/fhir+json, application/json"},
    )


def next_link(document: Any) -> str | None:
    """The ``next`` link of a Bundle page, if any."""
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        return None
    links = document.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None


@dataclass(frozen=True)
class FetchResult:
    """The pages read for one query, and why paging stopped early (``None``: it did not).

    Contract section 2: partial data is used, never hidden; ``incomplete`` says the key is
    incomplete, and the cards that use it name it. Without it absent findings (no anti-JCV
    result on page 3) would look like negative ones.
    """

    documents: list[Any]
    incomplete: str | None = None


class FhirFetcher:
    """Reads one prefetch query (all of its pages) from a FHIR server."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self._client = client
        self._max_bytes = settings.fhir_max_response_bytes
        self._max_pages = max(1, settings.fhir_max_pages)
        self._total_timeout = settings.fhir_total_timeout_s
        self._max_depth = settings.max_json_depth
        self._max_resources = settings.max_resources

    @property
    def max_pages(self) -> int:
        return self._max_pages

    async def fetch(
        self,
        base_url: str,
        query: str,
        token: str | None,
        budget: ResourceBudget | None = None,
    ) -> FetchResult:
        """GET ``base_url/query`` and its ``next`` pages, within the page, byte and time caps.

        Raises :class:`FetchError` when not even the first page could be read. When a later
        page fails or a cap is reached, the pages read so far come back with ``incomplete``
        set. ``budget`` is the call-wide resource budget: exceeding it raises the call's 413.
        """
        url = f"{base_url.rstrip('/')}/{query.lstrip('/')}"
        result = await self._pages(base_url, url, _headers(token), budget, self._max_pages)
        if not result.documents:
            raise FetchError(result.incomplete or "no_data")
        return result

    async def fetch_more(
        self,
        base_url: str,
        next_url: str,
        token: str | None,
        budget: ResourceBudget | None = None,
    ) -> FetchResult:
        """Continue a searchset the EHR prefetched from its ``next`` link; never raises
        :class:`FetchError` (a failure is the ``incomplete`` reason). The prefetched page
        counts as the first of ``CDS_FHIR_MAX_PAGES``."""
        if self._max_pages <= 1:
            return FetchResult([], "too_many_pages")
        return await self._pages(base_url, next_url, _headers(token), budget, self._max_pages - 1)

    async def _pages(
        self,
        base_url: str,
        url: str | None,
        headers: Mapping[str, str],
        budget: ResourceBudget | None,
        max_pages: int,
    ) -> FetchResult:
        documents: list[Any] = []
        try:
            async with asyncio.timeout(self._total_timeout):
                remaining_bytes = self._max_bytes
                while url is not None:
                    if len(documents) >= max_pages:
                        return FetchResult(documents, "too_many_pages")
                    if not is_within_server(url, base_url):
                        return FetchResult(documents, "next_link_outside_server")
                    document, size = await self._get_json(url, headers, remaining_bytes, budget)
                    remaining_bytes -= size
                    documents.append(document)
                    url = next_link(document)
        except TimeoutError:
            return FetchResult(documents, "timeout")
        except FetchError as error:
            return FetchResult(documents, error.reason)
        return FetchResult(documents)

    async def _get_json(
        self,
        url: str,
        headers: Mapping[str, str],
        byte_budget: int,
        budget: ResourceBudget | None,
    ) -> tuple[Any, int]:
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise FetchError(f"http_{response.status_code // 100}xx")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > byte_budget:
                    raise FetchError("too_large")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > byte_budget:
                        raise FetchError("too_large")
        except httpx.TimeoutException:
            raise FetchError("timeout") from None
        except httpx.HTTPError:
            raise FetchError("connection") from None
        except (httpx.InvalidURL, ValueError):
            # A URL the allow-list accepted but httpx cannot encode (e.g. odd host names).
            raise FetchError("invalid_url") from None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FetchError("invalid_json") from None
        # Fetched data meets the same limits as a request body before anything validates it,
        # and its resources count against the call-wide budget.
        limit = (
            self._max_resources if budget is None else min(self._max_resources, budget.remaining)
        )
        try:
            found = check_json_limits(
                document, max_depth=self._max_depth, max_resources=limit, body_bytes=len(body)
            )
        except ProtocolError as error:
            if budget is not None and error.error == TOO_MANY_RESOURCES:
                raise too_many_resources(budget.limit) from None
            raise FetchError(error.error) from None
        if budget is not None:
            budget.spend(found)
        return document, len(body)


def _headers(token: str | None) -> Mapping[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def timed_fetch(
    fetcher: FhirFetcher,
    base_url: str,
    query: str,
    token: str | None,
    budget: ResourceBudget | None = None,
) -> tuple[FetchResult | FetchError, float]:
    """Run one fetch and report its outcome and duration instead of raising a FetchError
    (the call's 413 for an exhausted budget still propagates)."""
    started = time.perf_counter()
    try:
        result: FetchResult | FetchError = await fetcher.fetch(base_url, query, token, budget)
    except FetchError as error:
        result = error
    return result, time.perf_counter() - started
