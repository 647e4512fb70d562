"""The Ruby-literal reader that converts Oracle Health (Cerner) examples to JSON follows Ruby's
rules for the constructs those files use (snippets written here, in their style)."""

from __future__ import annotations

import pytest

from tests.interop.ruby_literal import RubyLiteralError, ruby_constants

SAMPLE = """# frozen_string_literal: true

module Cerner
  module Resources
    ENTRY ||= {
      'resourceType': 'MedicationRequest',
      "id": '314010287',
      'div': '<p>one</p>\\
        <p>two</p>',
      'joined': 'abc'\\
                'def',
      'quoted': 'it\\'s \\\\ here',
      'doubled': "tab\\there \\"q\\"",
      'value': 1.0,
      'count': 2,
      'flags': [true, false, nil],
      legacy: 'symbol key'
    }.freeze

    BUNDLE ||= {
      'entry': [
        ENTRY
      ]
    }.freeze
  end
end
"""


def test_constants_read_with_ruby_semantics() -> None:
    constants = ruby_constants(SAMPLE)
    entry = constants["ENTRY"]
    assert list(constants) == ["ENTRY", "BUNDLE"]
    # In single quotes a backslash before a newline stays, newline and indentation included.
    assert entry["div"] == "<p>one</p>\\\n        <p>two</p>"
    assert entry["joined"] == "abcdef"  # adjacent literals across a line continuation
    assert entry["quoted"] == "it's \\ here"
    assert entry["doubled"] == 'tab\there "q"'
    assert isinstance(entry["value"], float) and entry["value"] == 1.0
    assert entry["count"] == 2 and isinstance(entry["count"], int)
    assert entry["flags"] == [True, False, None]
    assert entry["legacy"] == "symbol key"
    assert constants["BUNDLE"] == {"entry": [entry]}


@pytest.mark.parametrize(
    "text",
    [
        "X = { 'a': UNKNOWN }",
        'X = { "a": "#{interpolated}" }',
        "X = { 'a': 'unterminated }",
        "X = { 'a' 'b' }",
        "x = 1",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(RubyLiteralError):
        ruby_constants(text)
