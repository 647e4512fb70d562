"""Read the data constants of a Ruby source file as JSON values, without running Ruby.

Oracle Health (Cerner) publishes its FHIR examples only as Ruby hash constants
(``cerner/fhir.cerner.com``, ``lib/resources/example_json/*.rb``). The interop corpus keeps
JSON, so ``stage_corpus`` converts one constant mechanically with this reader; the converted
file is committed with the original's repository, path, commit and SHA-256 (sources.json).

The grammar is the literal subset those files use, read with Ruby's own rules:

* ``CONST ||= value`` / ``CONST = value`` inside ``module ... end``, ``# comments``;
* hashes with ``'key':``, ``"key":`` or ``key:`` symbol keys (or ``'key' => value``), arrays;
* single-quoted strings (only ``\\\\`` and ``\\'`` are escapes, so a backslash before a newline
  stays in the text) and double-quoted strings (the usual escapes; interpolation is refused);
* adjacent string literals, also across a ``\\`` line continuation, joined into one;
* integers and floats (``1.0`` stays a float), ``true``, ``false``, ``nil``, ``.freeze``;
* a bare constant name, replaced by the value of that constant defined earlier in the file.

Anything else raises ``RubyLiteralError`` rather than guessing.
"""

from __future__ import annotations

import re
from typing import Any

_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "s": " ", "e": "\x1b"}
_NUMBER = re.compile(r"-?\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RubyLiteralError(ValueError):
    """The text is not in the literal subset this reader understands."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.constants: dict[str, Any] = {}

    # --- lexical helpers -------------------------------------------------------------
    def fail(self, what: str) -> RubyLiteralError:
        line = self.text.count("\n", 0, self.at) + 1
        return RubyLiteralError(f"{what} at line {line}: {self.text[self.at : self.at + 40]!r}")

    def skip_space(self, newlines: bool = True) -> None:
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == "#":
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            elif char == "\\" and self.text.startswith("\\\n", self.at):
                self.at += 2  # line continuation
            elif char in " \t\r" or (newlines and char == "\n"):
                self.at += 1
            else:
                return

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.at)

    def expect(self, token: str) -> None:
        self.skip_space()
        if not self.peek(token):
            raise self.fail(f"expected {token!r}")
        self.at += len(token)

    # --- values ----------------------------------------------------------------------
    def value(self) -> Any:
        self.skip_space()
        char = self.text[self.at : self.at + 1]
        if char == "{":
            result: Any = self.hash()
        elif char == "[":
            result = self.array()
        elif char in ("'", '"'):
            result = self.strings()
        elif _NUMBER.match(self.text, self.at):
            result = self.number()
        else:
            result = self.word()
        self.skip_space(newlines=False)
        if self.peek(".freeze"):
            self.at += len(".freeze")
        return result

    def hash(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        while True:
            self.skip_space()
            if self.peek("}"):
                self.at += 1
                return result
            key = self.key()
            result[key] = self.value()
            self.skip_space()
            if self.peek(","):
                self.at += 1
            elif not self.peek("}"):
                raise self.fail("expected ',' or '}'")

    def key(self) -> str:
        if self.text[self.at] in ("'", '"'):
            key = self.strings()
        else:
            match = _NAME.match(self.text, self.at)
            if match is None:
                raise self.fail("expected a hash key")
            key, self.at = match.group(), match.end()
        if self.peek(":") and not self.peek("::"):
            self.at += 1
            return key
        self.skip_space()
        if self.peek("=>"):
            self.at += 2
            return key
        raise self.fail("expected ':' or '=>' after a hash key")

    def array(self) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        while True:
            self.skip_space()
            if self.peek("]"):
                self.at += 1
                return result
            result.append(self.value())
            self.skip_space()
            if self.peek(","):
                self.at += 1
            elif not self.peek("]"):
                raise self.fail("expected ',' or ']'")

    def strings(self) -> str:
        """One string literal, or several adjacent ones joined (Ruby's literal concatenation)."""
        parts = [self.string()]
        while True:
            mark = self.at
            self.skip_space()
            if self.text[self.at : self.at + 1] in ("'", '"'):
                parts.append(self.string())
            else:
                self.at = mark
                return "".join(parts)

    def string(self) -> str:
        quote = self.text[self.at]
        self.at += 1
        out: list[str] = []
        while self.at < len(self.text):
            char = self.text[self.at]
            if char == quote:
                self.at += 1
                return "".join(out)
            if char == "\\":
                following = self.text[self.at + 1 : self.at + 2]
                if quote == "'":
                    out.append(following if following in ("\\", "'") else "\\" + following)
                elif following == "\n":
                    pass  # a backslash-newline inside double quotes joins the lines
                else:
                    out.append(_DOUBLE_ESCAPES.get(following, following))
                self.at += 2
                continue
            if quote == '"' and self.peek("#{"):
                raise self.fail("string interpolation is not a literal")
            out.append(char)
            self.at += 1
        raise self.fail("unterminated string")

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.at)
        assert match is not None
        self.at = match.end()
        literal = match.group().replace("_", "")
        return float(literal) if match.group(1) or match.group(2) else int(literal)

    def word(self) -> Any:
        match = _NAME.match(self.text, self.at)
        if match is None:
            raise self.fail("expected a value")
        self.at = match.end()
        name = match.group()
        if name in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[name]
        if name in self.constants:
            return self.constants[name]
        raise self.fail(f"unknown name {name!r}")

    # --- the file --------------------------------------------------------------------
    def read_file(self) -> dict[str, Any]:
        while True:
            self.skip_space()
            if self.at >= len(self.text):
                return self.constants
            match = _NAME.match(self.text, self.at)
            if match is None:
                raise self.fail("expected a statement")
            self.at = match.end()
            word = match.group()
            if word == "module":
                self.skip_space(newlines=False)
                name = _NAME.match(self.text, self.at)
                if name is None:
                    raise self.fail("expected a module name")
                self.at = name.end()
            elif word == "end":
                continue
            elif word[0].isupper():
                self.skip_space(newlines=False)
                for assignment in ("||=", "="):
                    if self.peek(assignment):
                        self.at += len(assignment)
                        break
                else:
                    raise self.fail(f"expected an assignment to {word}")
                self.constants[word] = self.value()
            else:
                raise self.fail(f"unexpected {word!r}")


def ruby_constants(text: str) -> dict[str, Any]:
    """Every constant the file defines, in order, as JSON-compatible values."""
    return _Reader(text).read_file()
