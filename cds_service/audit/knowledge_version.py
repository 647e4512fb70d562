"""The knowledge version: a content hash of ``cds_service/knowledge/``, computed once per process.

Why a hash and not the CodeSystems' ``version`` field: a threshold in ``rules.json`` or a code in a
value set can change without anyone bumping a version string, and the committee must be able to
tell which rules produced the cards it is judging. Every file except Python bytecode is hashed,
with its relative path, so renaming, adding or removing a file changes the version as well.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Final

from cds_service.knowledge.loader import KNOWLEDGE_DIR

PREFIX: Final = "sha256:"


def knowledge_hash(directory: Path) -> str:
    """``sha256:<hex>`` over every file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    paths = sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    for path in paths:
        relative = path.relative_to(directory).as_posix().encode()
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(content).to_bytes(8, "big") + content)
    return PREFIX + digest.hexdigest()


@lru_cache(maxsize=1)
def knowledge_version() -> str:
    """The packaged knowledge's hash (read once; the files do not change while running)."""
    return knowledge_hash(KNOWLEDGE_DIR)
