"""The bounded maps behind every in-memory cache (cds_service.bounded)."""

from __future__ import annotations

import random
import threading

from cds_service.bounded import BoundedMap, KnowledgeScopedMap


def test_the_oldest_entry_is_forgotten_first() -> None:
    remembered: BoundedMap[int, str] = BoundedMap(3)
    for key in range(5):
        remembered.put(key, f"v{key}")
    assert len(remembered) == 3
    assert [remembered.get(key) for key in range(5)] == [None, None, "v2", "v3", "v4"]


def test_writing_a_key_again_replaces_its_value_in_its_place() -> None:
    remembered: BoundedMap[str, int] = BoundedMap(2)
    remembered.put("a", 1)
    remembered.put("b", 2)
    remembered.put("a", 3)  # a new value, not a new arrival: "a" is still the oldest
    assert (len(remembered), remembered.get("a")) == (2, 3)
    remembered.put("c", 4)
    assert (remembered.get("a"), remembered.get("b"), remembered.get("c")) == (None, 2, 4)


def test_a_long_mixed_run_matches_a_plain_first_in_first_out_model() -> None:
    """Puts of new and known keys, clears and re-bounds, against a list kept by hand."""
    rng = random.Random(7)
    bound = 50
    remembered: BoundedMap[int, int] = BoundedMap(bound)
    order: list[int] = []
    values: dict[int, int] = {}
    for step in range(20_000):
        roll = rng.random()
        if roll < 0.001:
            remembered.clear()
            order.clear()
            values.clear()
            continue
        if roll < 0.002:
            bound = rng.choice((0, 1, 7, 50))
            remembered.configure(bound)
            order.clear()
            values.clear()
            continue
        key = rng.randrange(200)
        remembered.put(key, step)
        if bound:
            if key not in values:
                if len(order) >= bound:
                    del values[order.pop(0)]
                order.append(key)
            values[key] = step
        assert len(remembered) == len(values)
    assert all(remembered.get(key) == values.get(key) for key in range(200))


def test_zero_remembers_nothing() -> None:
    remembered: BoundedMap[str, int] = BoundedMap(0)
    remembered.put("a", 1)
    assert (remembered.enabled, remembered.get("a"), len(remembered)) == (False, None, 0)


def test_writers_on_many_threads_keep_the_bound() -> None:
    remembered: BoundedMap[tuple[int, int], int] = BoundedMap(64)

    def write(thread: int) -> None:
        for item in range(5_000):
            remembered.put((thread, item), item)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(remembered) == 64
    # The order of arrival names exactly the keys held (no lost or doubled arrival).
    arrivals = list(remembered._arrivals)
    assert len(arrivals) == 64 and set(arrivals) == set(remembered._entries)


def test_a_knowledge_scoped_entry_holds_for_its_owner_only() -> None:
    remembered: KnowledgeScopedMap[str, int] = KnowledgeScopedMap(4)
    first, second = object(), object()
    remembered.put("a", 1, first)
    assert (remembered.get("a", first), remembered.get("a", second)) == (1, None)
    remembered.put("b", 2, second)  # a new owner: everything of the old one is forgotten
    assert (remembered.get("a", second), remembered.get("b", second)) == (None, 2)
