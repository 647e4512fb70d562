"""The SQLite group committer: a burst of posts in one transaction, each answered for itself."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds_service.feedback.group_commit import FeedbackPost, GroupCommitter
from cds_service.feedback.store import FeedbackStore, StoreResult
from cds_service.protocol.models import FeedbackItem

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _item(card: str) -> FeedbackItem:
    return FeedbackItem.model_validate(
        {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-26T02:00:00Z"}
    )


def _post(*cards: str) -> FeedbackPost:
    return FeedbackPost("natalizumab-order-sign", [_item(c) for c in cards], NOW)


class _Gated:
    """``write_many`` that blocks its first batch until released, then records batch sizes."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store
        self.batches: list[int] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, posts: Sequence[FeedbackPost]) -> list[StoreResult]:
        if not self.batches:
            self.first_started.set()
            self.release.wait(10)
        self.batches.append(len(posts))
        return self.store.store_many(posts)


def test_posts_waiting_behind_a_commit_are_written_together(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    gated = _Gated(store)
    committer: GroupCommitter[StoreResult] = GroupCommitter(gated)
    first = committer.submit(_post("a"))
    assert gated.first_started.wait(10)
    waiting = [committer.submit(_post(f"b{i}", "shared")) for i in range(20)]
    gated.release.set()
    assert first.result(10) == StoreResult(stored=1, duplicates=0)
    results = [future.result(10) for future in waiting]
    assert gated.batches == [1, 20]  # the twenty queued posts: one transaction
    # Each post is answered for itself: "shared" is new for the first post only.
    assert results[0] == StoreResult(stored=2, duplicates=0)
    assert all(result == StoreResult(stored=1, duplicates=1) for result in results[1:])
    assert len(store.records()) == 1 + 20 + 1
    committer.shutdown()
    store.dispose()


def test_a_post_whose_caller_gave_up_is_not_written(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    gated = _Gated(store)
    committer: GroupCommitter[StoreResult] = GroupCommitter(gated)
    committer.submit(_post("a"))
    assert gated.first_started.wait(10)
    abandoned: Future[StoreResult] = committer.submit(_post("late"))
    assert abandoned.cancel()  # its deadline passed while it waited
    kept = committer.submit(_post("kept"))
    gated.release.set()
    assert kept.result(10).stored == 1
    assert {record.card_uuid for record in store.records()} == {"a", "kept"}
    committer.shutdown()
    store.dispose()


def test_a_failed_transaction_fails_every_post_of_it_and_the_next_batch_works() -> None:
    calls: list[int] = []

    def flaky(posts: Sequence[FeedbackPost]) -> list[int]:
        calls.append(len(posts))
        if len(calls) == 1:
            raise RuntimeError("disk I/O error")
        return [len(post.items) for post in posts]

    committer: GroupCommitter[int] = GroupCommitter(flaky)
    with pytest.raises(RuntimeError):
        committer.submit(_post("a")).result(10)
    assert committer.submit(_post("b", "c")).result(10) == 2
    committer.shutdown()


def test_shutdown_writes_what_is_queued(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    gated = _Gated(store)
    committer: GroupCommitter[StoreResult] = GroupCommitter(gated)
    committer.submit(_post("a"))
    assert gated.first_started.wait(10)
    queued = committer.submit(_post("b"))
    threading.Timer(0.2, gated.release.set).start()
    committer.shutdown()
    assert queued.result(0).stored == 1
    store.dispose()
