"""Mutations of real requests: every JSON value replaced by values of the wrong type.

Generated fuzz (``fuzz_strategies``) builds requests from scratch and rarely reaches deep
into realistic data; the defects of issue 11 items 2 and 3 (a ``coding.system`` that is an
object, a timestamp at the limits of a date) survived 10,000 such requests. Here the starting
points are the project's own example hook calls (``fhir_examples/``, rendered for a fixed
moment) and spec-shaped feedback posts, and each mutation swaps one value, or several at
once, for another JSON kind (string <-> number <-> list <-> object <-> null <-> boolean),
huge numbers, ``NaN``/``Infinity`` (as strings, and now and then as bare tokens, which is
not JSON), empty strings and impossible dates. Everything is deterministic from a seed.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.examples import example_names, load_example

Path = tuple[str | int, ...]
SERVICE_BY_HOOK = {
    "order-select": "natalizumab-order-select",
    "order-sign": "natalizumab-order-sign",
    "medication-prescribe": "natalizumab-medication-prescribe",
}
#: Rendering moment of the examples: fixed, so every run mutates the same requests.
EXAMPLES_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

_DATES = ["0000-00-00", "99999-01-01", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"]
_SPECIAL_STRINGS = ["", " ", "NaN", "Infinity", "-Infinity", "null", "\u0000", "😀", *_DATES]
_HUGE_NUMBERS: list[Any] = [2**64, -(2**63) - 1, 10**30, 1e308, -1e308, 5e-324]
_CONTAINERS: list[Any] = [[], {}, [None], {"": None}, [[[]]], [{"resourceType": "Patient"}]]
WRONG_VALUES: dict[str, list[Any]] = {
    "str": [0, -1, 3.5, True, False, None, *_CONTAINERS, *_SPECIAL_STRINGS, *_HUGE_NUMBERS],
    "number": ["1", "0x10", "NaN", "Infinity", True, None, "", *_CONTAINERS, *_HUGE_NUMBERS],
    "bool": ["true", 1, 0, None, "", [], {}],
    "null": [0, "", False, [], {}, "0000-00-00"],
    "list": [None, "", "x", 0, {}, {"resourceType": "Bundle"}, [None], [0], [[]], True],
    "dict": [None, "", "x", 0, [], [{}], {}, True, 1e308],
}
#: Not JSON at all: sometimes a value is written as a bare NaN or Infinity token.
_BARE_TOKENS = [float("nan"), float("inf"), float("-inf")]


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "dict"


def value_paths(document: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every value below the root (container values included), depth first."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from value_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield (*prefix, index)
            yield from value_paths(value, (*prefix, index))


def get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def replaced(document: Any, changes: Sequence[tuple[Path, Any]]) -> Any:
    """A copy of ``document`` with each path set to its value (paths that vanished skipped)."""
    result = copy.deepcopy(document)
    for path, value in changes:
        try:
            parent = get(result, path[:-1])
            if isinstance(parent, dict | list):
                # A copy: the wrong values are shared, and a later change may reach inside.
                parent[path[-1]] = copy.deepcopy(value)  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            continue
    return result


@dataclass(frozen=True)
class Base:
    """One unmutated request: where it is posted and its JSON."""

    name: str
    path: str
    body: dict[str, Any]
    paths: tuple[Path, ...]


@dataclass(frozen=True)
class Mutation:
    """One mutated request, with enough to reproduce it from the base."""

    base: Base
    changes: tuple[tuple[Path, Any], ...]

    def content(self) -> bytes:
        return json.dumps(replaced(self.base.body, self.changes)).encode()

    def describe(self) -> str:
        return f"{self.base.name}: " + "; ".join(
            f"{'/'.join(map(str, path))} = {value!r}"[:160] for path, value in self.changes
        )

    @property
    def inside_prefetch_resources(self) -> bool:
        """True when every change is inside a prefetch value (never the trigger order)."""
        return all(len(path) >= 3 and path[0] == "prefetch" for path, _ in self.changes)


def hook_bases() -> list[Base]:
    bases = []
    for name in example_names():
        request = load_example(name, EXAMPLES_NOW).request
        service = SERVICE_BY_HOOK[request["hook"]]
        paths = tuple(value_paths(request))
        bases.append(Base(name, f"/cds-services/{service}", request, paths))
    return bases


def feedback_bases() -> list[Base]:
    """Spec-shaped feedback: an accepted suggestion, an override with reason and comment."""
    path = "/cds-services/natalizumab-order-sign/feedback"
    bodies: dict[str, dict[str, Any]] = {
        "feedback-accepted": {
            "feedback": [
                {
                    "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                    "outcomeTimestamp": "2026-11-26T10:05:31Z",
                }
            ]
        },
        "feedback-overridden": {
            "feedback": [
                {
                    "card": "9368d37b-283f-44a0-93ea-547cebab93ee",
                    "outcome": "overridden",
                    "overrideReason": {
                        "reason": {
                            "code": "patient-informed-consent",
                            "system": "https://natalizumab-cds.example/fhir/CodeSystem/override-reason",
                            "display": "Patient informed and consents",
                        },
                        "userComment": "Discussed with the patient.",
                    },
                    "outcomeTimestamp": "2026-11-26T10:05:31+01:00",
                },
                {
                    "card": "9368d37b-283f-44a0-93ea-547cebab93ef",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-26T10:05:31.123Z",
                },
            ]
        },
    }
    return [Base(name, path, body, tuple(value_paths(body))) for name, body in bodies.items()]


def single_mutations(bases: Sequence[Base]) -> Iterator[Mutation]:
    """Every value of every base, replaced by every wrong value of its kind, in order."""
    for base in bases:
        for path in base.paths:
            for value in WRONG_VALUES[kind(get(base.body, path))]:
                yield Mutation(base, ((path, value),))


def sample(
    bases: Sequence[Base], count: int, seed: int, combined_share: float = 0.3
) -> list[Mutation]:
    """``count`` mutations: mostly one value, else two to six at once; one in 200 not JSON."""
    rng = random.Random(seed)
    mutations = []
    for _ in range(count):
        base = rng.choice(bases)
        changes = rng.randint(2, 6) if rng.random() < combined_share else 1
        chosen = []
        for path in rng.sample(base.paths, min(changes, len(base.paths))):
            values = WRONG_VALUES[kind(get(base.body, path))]
            value = rng.choice(_BARE_TOKENS) if rng.random() < 0.005 else rng.choice(values)
            chosen.append((path, value))
        mutations.append(Mutation(base, tuple(chosen)))
    return mutations
