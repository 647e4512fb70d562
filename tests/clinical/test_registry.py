"""The topic registry agrees with itself: one topic set across the CodeSystem, rules.json, the
registered rules and the registered texts, and every piece of a topic fits the others.

This is the test that fails when a topic is added in one place and forgotten in another (the
service used to answer 500 for a topic missing from a hand-kept table).
"""

from __future__ import annotations

from cds_service.cards.registry import registered_texts
from cds_service.clinical.registry import check_topic_data, registered_rules, rule_topics
from cds_service.knowledge.loader import knowledge
from cds_service.knowledge.topics import TopicGroup

KB = knowledge()


def test_every_piece_of_every_topic_agrees() -> None:
    codesystem = set(KB.topics)
    in_rules_json = {rule.id for rule in KB.rules.rules}
    decided = rule_topics()
    worded = registered_texts()

    assert codesystem == in_rules_json, "card-topic.json and rules.json name different topics"
    assert codesystem == set(decided), "a topic has no registered rule (or a rule no concept)"
    assert codesystem == set(worded), "a topic has no registered text (or a text no concept)"
    assert KB.codesystems["card-topic"]["count"] == len(codesystem)

    for code, definition in KB.topics.items():
        emitted = decided[code]
        assert emitted.indicators <= definition.indicators, (
            f"{code}: its rule can give {sorted(emitted.indicators - definition.indicators)}, "
            "which the CodeSystem does not allow"
        )
        assert worded[code].values is emitted.values, (
            f"{code}: the rule gives {emitted.values.__name__}, "
            f"the text expects {worded[code].values.__name__}"
        )
        assert isinstance(definition.order, int)
        assert definition.prefetch_keys, f"{code}: no prefetch-key property"

    orders = [definition.order for definition in KB.topics.values()]
    assert len(orders) == len(set(orders)), "two topics share an order"
    # Each topic is decided by exactly one rule.
    names = [e.topic for registered in registered_rules() for e in registered.emits]
    assert len(names) == len(set(names)), "a topic is registered by two rules"
    # Every topic's own rules.json data parses into its module's typed model.
    check_topic_data(KB.rules, registered_rules())


def test_the_card_order_follows_the_codesystem_groups() -> None:
    ordered = sorted(KB.topics.values(), key=lambda topic: topic.order)
    groups = [topic.group for topic in ordered]
    assert groups == sorted(groups, key=lambda group: group.rank)
    assert groups[0] is TopicGroup.INDICATION and groups[-1] is TopicGroup.MONITORING
