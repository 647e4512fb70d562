"""The knowledge version is a content hash of cds_service/knowledge/: any edit changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from cds_service.audit.knowledge_version import knowledge_hash, knowledge_version
from cds_service.knowledge.loader import KNOWLEDGE_DIR


def test_the_hash_follows_the_content(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert knowledge_hash(copy) == knowledge_version()
    rules = copy / "rules.json"
    rules.write_text(rules.read_text(encoding="utf-8").replace("365", "366", 1), encoding="utf-8")
    changed = knowledge_hash(copy)
    assert changed != knowledge_version()
    (copy / "valuesets" / "natalizumab.json").rename(copy / "valuesets" / "renamed.json")
    assert knowledge_hash(copy) not in {changed, knowledge_version()}
    assert knowledge_version().startswith("sha256:") and len(knowledge_version()) == 71
