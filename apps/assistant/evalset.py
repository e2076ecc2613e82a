"""The versioned assistant eval set shipped in ``data/assistant/`` (see its PROVENANCE.md)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.assistant.grader import validate_check
from core.errors import DataError

LONG_PROMPT_WORDS = 12  # prompts with more words than this form the "long" length slice


@dataclass(frozen=True)
class EvalPrompt:
    """One graded prompt."""

    id: str
    category: str
    prompt: str
    check: dict[str, Any]

    @property
    def length_slice(self) -> str:
        """``len:short`` or ``len:long`` by word count."""
        return "len:long" if len(self.prompt.split()) > LONG_PROMPT_WORDS else "len:short"


@dataclass(frozen=True)
class AssistantEvalSet:
    """Prompts, perplexity texts and the semantic-cache pair set, with a content version."""

    prompts: tuple[EvalPrompt, ...]
    texts: tuple[tuple[str, str], ...]  # (file name, text)
    pairs: tuple[tuple[str, str, bool], ...]  # (a, b, same meaning)
    version: str

    def slices(self) -> dict[str, list[bool]]:
        """Boolean masks over prompts: one per category and one per length bucket."""
        names = sorted({f"cat:{p.category}" for p in self.prompts})
        names += sorted({p.length_slice for p in self.prompts})
        return {
            name: [name in (f"cat:{p.category}", p.length_slice) for p in self.prompts]
            for name in names
        }

    @property
    def text(self) -> str:
        """All perplexity texts joined by blank lines."""
        return "\n\n".join(t for _, t in self.texts)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{path} is missing; restore data/assistant from git")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number} is not valid JSON: {e.msg}") from e
    return rows


def load_eval_set(data_dir: Path) -> AssistantEvalSet:
    """Load ``<data_dir>/assistant``; the version is a hash of every file's bytes."""
    root = Path(data_dir) / "assistant"
    prompts = []
    for row in _read_jsonl(root / "prompts.jsonl"):
        validate_check(row["check"])
        prompts.append(EvalPrompt(row["id"], row["category"], row["prompt"], row["check"]))
    text_files = sorted((root / "texts").glob("*.txt"))
    if not text_files:
        raise DataError(f"no perplexity texts under {root / 'texts'}; restore data/assistant")
    texts = tuple((p.name, p.read_text(encoding="utf-8")) for p in text_files)
    pairs = tuple(
        (r["a"], r["b"], bool(r["same"])) for r in _read_jsonl(root / "paraphrases.jsonl")
    )
    digest = hashlib.sha256()
    for path in [root / "prompts.jsonl", root / "paraphrases.jsonl", *text_files]:
        digest.update(path.name.encode() + path.read_bytes())
    return AssistantEvalSet(tuple(prompts), texts, pairs, digest.hexdigest()[:16])
