"""Mutation fuzzing of the real example requests and of feedback: never a 5xx (issue 11).

Every answer must be a 200 or the contract's JSON error; a 200 to a hook call carries a
``cards`` list; and a mutation that only touches prefetch data (never the order) must not
silence a natalizumab order: the answer is 200 with cards, or 412 when required data became
unusable. The app runs in-process (:mod:`tests.support.asgi`), with its lifespan.

Default suite: every value of one rich example swapped once, and a fixed sample of 400 hook
and 150 feedback mutations. The big run (20,000
hook calls and 5,000 feedback posts unless ``FUZZ_MUTATIONS`` says otherwise) is one command::

    pytest tests/security/test_mutation_fuzz.py -m slow -s
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.config import Settings
from tests.security.mutation import (
    WRONG_VALUES,
    Base,
    Mutation,
    feedback_bases,
    get,
    hook_bases,
    kind,
    sample,
)
from tests.support.asgi import InProcessClient

SMALL_HOOK, SMALL_FEEDBACK = 400, 150
BIG_HOOK = int(os.environ.get("FUZZ_MUTATIONS", "20000"))
BIG_FEEDBACK = max(1, BIG_HOOK // 4)
JSON_HEADERS = {"Content-Type": "application/json"}
#: Rich in codings, dates and medication records: every value of it is swapped once.
SWEPT_EXAMPLE = "topic-pml-risk"


@dataclass
class Run:
    """Statuses seen and every broken answer, reported together at the end."""

    client: InProcessClient
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    card_counts: dict[str, int] = field(default_factory=dict)

    def baseline(self, bases: Sequence[Base]) -> None:
        for base in bases:
            response = self.client.post(
                base.path, content=json.dumps(base.body), headers=JSON_HEADERS
            )
            assert response.status_code == 200, (base.name, response.text[:300])
            body = response.json()
            self.card_counts[base.name] = len(body.get("cards", [])) if "cards" in body else -1

    def send(self, mutation: Mutation) -> None:
        base = mutation.base
        response = self.client.post(base.path, content=mutation.content(), headers=JSON_HEADERS)
        status = response.status_code
        self.statuses[("feedback" if base.path.endswith("/feedback") else "hook", status)] += 1
        problem = _problem(mutation, status, response.content, self.card_counts.get(base.name, 0))
        if problem:
            self.problems.append(f"{problem} <- {mutation.describe()}")


def _problem(mutation: Mutation, status: int, content: bytes, base_cards: int) -> str | None:
    if status >= 500:
        return f"{status} {content[:200]!r}"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{status} with a body that is not JSON"
    if status >= 400:
        ok = isinstance(body, dict) and isinstance(body.get("error"), str)
        return (
            None
            if ok and isinstance(body.get("message"), str)
            else f"{status} without the error body"
        )
    if mutation.base.path.endswith("/feedback"):
        return None if isinstance(body, dict) else "feedback 200 that is not an object"
    if not isinstance(body.get("cards"), list):
        return "200 without a cards list"
    if base_cards > 0 and mutation.inside_prefetch_resources and not body["cards"]:
        return "a natalizumab order answered with no cards after a prefetch-only mutation"
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    database = tmp_path_factory.mktemp("mutation") / "feedback.db"
    client = InProcessClient(
        create_app(Settings(database_url=f"sqlite:///{database}", log_level="CRITICAL"))
    )
    state = Run(client)
    state.baseline([*hook_bases(), *feedback_bases()])
    yield state
    print(f"\nmutation fuzz: {sorted(state.statuses.items())}")
    client.close()


def _fuzz(run: Run, mutations: Sequence[Mutation]) -> None:
    for mutation in mutations:
        run.send(mutation)
    shown = "\n".join(run.problems[:25])
    assert not run.problems, f"{len(run.problems)} broken answers, first ones:\n{shown}"


def test_mutated_examples_small(run: Run) -> None:
    _fuzz(run, sample(hook_bases(), SMALL_HOOK, seed=11))


def test_every_value_of_one_example_replaced_once(run: Run) -> None:
    """Each value of one rich example swapped, one at a time, for a wrong value of its kind."""
    [base] = [b for b in hook_bases() if b.name == SWEPT_EXAMPLE]
    mutations = [
        Mutation(base, ((path, WRONG_VALUES[kind(get(base.body, path))][n % 7]),))
        for n, path in enumerate(base.paths)
    ]
    assert len(mutations) > 300
    _fuzz(run, mutations)


def test_mutated_feedback_small(run: Run) -> None:
    _fuzz(run, sample(feedback_bases(), SMALL_FEEDBACK, seed=12, combined_share=0.5))


@pytest.mark.slow
def test_mutated_examples_big(run: Run, tmp_path: Path) -> None:
    started = time.monotonic()
    mutations = sample(hook_bases(), BIG_HOOK, seed=20261126)
    mutations += sample(feedback_bases(), BIG_FEEDBACK, seed=20261127, combined_share=0.5)
    _fuzz(run, mutations)
    print(f"\nbig mutation fuzz: {len(mutations)} requests in {time.monotonic() - started:.1f} s")
