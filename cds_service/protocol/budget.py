"""The call-wide resource budget: ``CDS_MAX_RESOURCES`` counts every resource of one call.

Contract section 2: resources in the request body, on every page fetched for every prefetch
key (and every ``next`` page of a prefetched searchset) and every fetched ``Medication`` count
together; past the limit the call answers 413. A per-page limit alone let one call pull in
hundreds of thousands of resources, page after page.

The body's own count is taken lazily, on the first fetch: a call that fetches nothing was
already held to the limit when its body was read, and pays for no second walk of its JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds_service.protocol.errors import ProtocolError
from cds_service.protocol.limits import TOO_MANY_RESOURCES, check_json_limits

#: Depth is checked where the body is read; the count walk must never refuse for it.
_NO_DEPTH_LIMIT = 1 << 30


def too_many_resources(limit: int) -> ProtocolError:
    return ProtocolError(
        413,
        TOO_MANY_RESOURCES,
        f"The call holds or would fetch more than {limit} FHIR resources.",
    )


def count_resources(document: Any, limit: int) -> int:
    """Objects with a ``resourceType`` in ``document``; 413 once there are more than ``limit``."""
    try:
        return check_json_limits(
            document, max_depth=_NO_DEPTH_LIMIT, max_resources=limit, body_bytes=0
        )
    except ProtocolError as error:
        if error.error == TOO_MANY_RESOURCES:
            raise too_many_resources(limit) from None
        raise


class ResourceBudget:
    """Resources still allowed in this call; :meth:`spend` raises the 413 when they run out."""

    def __init__(self, limit: int, already_used: Callable[[], int] | int = 0) -> None:
        self.limit = limit
        self._initial = already_used
        self._used: int | None = already_used if isinstance(already_used, int) else None

    @classmethod
    def for_body(cls, body: Any, limit: int) -> ResourceBudget:
        """A budget whose first use counts the resources of the request ``body``."""
        return cls(limit, lambda: count_resources(body, limit))

    @property
    def used(self) -> int:
        if self._used is None:
            initial = self._initial
            self._used = initial() if callable(initial) else initial
        return self._used

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def spend(self, count: int) -> None:
        """Account for ``count`` more resources, or raise the call's 413."""
        if self.used + count > self.limit:
            self._used = self.used + count
            raise too_many_resources(self.limit)
        self._used = self.used + count
