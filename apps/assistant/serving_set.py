"""The graded serving set (``data/assistant/serving_eval.jsonl``): what the configuration gate
judges. Single- and multi-turn items (the earlier turns are fixed, only the last answer is
generated and graded), a category each, and a split: ``tune`` (the search sees it) or ``held``
(held back for the final gate). Items of the ``grounding`` category are answered from the shipped
ledger fixture (``grounding_ledger.json``, :mod:`apps.assistant.grounding_fixture`), whose bytes
are part of the set's version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.assistant.grader import validate_check
from core.errors import DataError

SERVING_SET = "serving_eval.jsonl"
GROUNDING_FIXTURE = "grounding_ledger.json"
SPLITS = ("tune", "held")


@dataclass(frozen=True)
class ServingItem:
    """One graded request: the messages sent and the check on the answer."""

    id: str
    category: str
    split: str
    messages: tuple[tuple[str, str], ...]  # (role, content), the last one from the user
    check: dict[str, Any]

    def as_messages(self) -> list[dict[str, str]]:
        """OpenAI-style message dicts."""
        return [{"role": r, "content": c} for r, c in self.messages]

    @property
    def question(self) -> str:
        """The last user turn."""
        return self.messages[-1][1]


@dataclass(frozen=True)
class ServingSet:
    """All items and a content version (sha256 of the file and of the grounding fixture)."""

    items: tuple[ServingItem, ...]
    version: str

    def part(self, split: str) -> tuple[ServingItem, ...]:
        """The ``tune`` or ``held`` items, in file order."""
        return tuple(i for i in self.items if i.split == split)

    @property
    def categories(self) -> tuple[str, ...]:
        """Category names, sorted."""
        return tuple(sorted({i.category for i in self.items}))


def load_serving_set(data_dir: Path) -> ServingSet:
    """Read and validate ``<data_dir>/assistant/serving_eval.jsonl``."""
    path = Path(data_dir) / "assistant" / SERVING_SET
    if not path.is_file():
        raise DataError(f"{path} is missing; restore data/assistant from git")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            validate_check(row["check"])
            messages = tuple((m["role"], m["content"]) for m in row["messages"])
            item = ServingItem(row["id"], row["category"], row["split"], messages, row["check"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(f"{path}:{number}: {e}; each line needs id, category, split, "
                            "messages and check") from e
        if item.split not in SPLITS or not messages or messages[-1][0] != "user":
            raise DataError(f"{path}:{number}: split must be one of {SPLITS} and the last "
                            "message must come from the user")
        items.append(item)
    digest = hashlib.sha256(path.read_bytes())
    fixture = path.parent / GROUNDING_FIXTURE
    if fixture.is_file():
        digest.update(fixture.name.encode() + fixture.read_bytes())
    return ServingSet(tuple(items), digest.hexdigest()[:16])
