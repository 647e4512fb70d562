"""Fetching prefetch data the EHR did not send, from its ``fhirServer``.

The service holds the EHR's bearer token while it fetches, and the URL comes from the
request, so every fetch is fenced: the caller has already checked the allow-list; redirects
are never followed (a 3xx could lead the token elsewhere); Bundle ``next`` links are followed
only while they stay under the same ``fhirServer`` and only up to ``fhir_max_pages``; each
key's download is capped in bytes (streamed and aborted) and in time; no cookies are kept
and no proxy settings are read from the environment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson

from cds_service.config import Settings
from cds_service.protocol.allowlist import is_within_server
from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import check_json_limits


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


def _next_link(document: Any) -> str | None:
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


class FhirFetcher:
    """Reads one prefetch query (all of its pages) from a FHIR server."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self._client = client
        self._max_bytes = settings.fhir_max_response_bytes
        self._max_pages = max(1, settings.fhir_max_pages)
        self._total_timeout = settings.fhir_total_timeout_s
        self._max_depth = settings.max_json_depth
        self._max_resources = settings.max_resources

    async def fetch(self, base_url: str, query: str, token: str | None) -> list[Any]:
        """GET ``base_url/query`` and every ``next`` page; return the parsed JSON documents.

        Raises :class:`FetchError` on any failure: partial data would make absent findings
        look like negative ones, so a query is either read completely or not at all.
        """
        headers: Mapping[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._fetch_pages(base_url, query, headers)
        except TimeoutError:
            raise FetchError("timeout") from None

    async def _fetch_pages(
        self, base_url: str, query: str, headers: Mapping[str, str]
    ) -> list[Any]:
        url: str | None = f"{base_url.rstrip('/')}/{query.lstrip('/')}"
        documents: list[Any] = []
        budget = self._max_bytes
        while url is not None:
            if len(documents) >= self._max_pages:
                raise FetchError("too_many_pages")
            if not is_within_server(url, base_url):
                raise FetchError("next_link_outside_server")
            document, size = await self._get_json(url, headers, budget)
            budget -= size
            documents.append(document)
            url = _next_link(document)
        return documents

    async def _get_json(self, url: str, headers: Mapping[str, str], budget: int) -> tuple[Any, int]:
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise FetchError(f"http_{response.status_code // 100}xx")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > budget:
                    raise FetchError("too_large")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > budget:
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
        # Fetched data meets the same limits as a request body before anything validates it.
        try:
            check_json_limits(
                document,
                max_depth=self._max_depth,
                max_resources=self._max_resources,
                body_bytes=len(body),
            )
        except ProtocolError as error:
            raise FetchError(error.error) from None
        return document, len(body)


async def timed_fetch(
    fetcher: FhirFetcher, base_url: str, query: str, token: str | None
) -> tuple[list[Any] | FetchError, float]:
    """Run one fetch and report its outcome and duration instead of raising."""
    started = time.perf_counter()
    try:
        result: list[Any] | FetchError = await fetcher.fetch(base_url, query, token)
    except FetchError as error:
        result = error
    return result, time.perf_counter() - started
