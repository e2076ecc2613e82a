"""Model cards (JSON in ``models/<app>/``) and the serving decision that reads them."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ModelError
from core.gates.report import GateReport

logger = logging.getLogger(__name__)


class ModelRef(BaseModel):
    """A model artifact; ``path`` is relative to the card's folder (None: built in memory)."""

    model_config = ConfigDict(frozen=True)
    name: str
    path: str | None = None


class ModelCard(BaseModel):
    """What a model is, what it costs, and whether its compressed variant passed the gate.

    ``gates``: every gate report for this card, oldest first (the latest decides serving).
    ``footprint``: measurement / ledger-record dicts of training and compression.
    """

    model_config = ConfigDict(frozen=True)
    app: str
    name: str
    reference: ModelRef
    candidate: ModelRef | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    gates: tuple[dict[str, Any], ...] = ()
    footprint: tuple[dict[str, Any], ...] = ()
    protocol: dict[str, Any] = Field(default_factory=dict)
    eval_version: str | None = None
    data_fingerprint: str | None = None
    updated_unix_s: float = Field(default_factory=time.time)

    @property
    def latest_gate(self) -> dict[str, Any] | None:
        return self.gates[-1] if self.gates else None

    def with_gate(self, report: GateReport) -> ModelCard:
        """A copy with ``report`` appended; the candidate is the one the report judged."""
        cand = self.candidate if self.candidate and self.candidate.name == report.candidate else (
            ModelRef(name=report.candidate))
        return self.model_copy(update={"gates": (*self.gates, report.to_dict()), "candidate": cand,
                                       "eval_version": report.eval_version,
                                       "updated_unix_s": time.time()})

    def save(self, path: str | Path) -> Path:
        """Write JSON atomically (temp file + rename), so a reader never sees half a card."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(self.model_dump_json(indent=2))
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read a card; ModelError when missing or corrupt (the file is left as it is)."""
        p = Path(path)
        try:
            return cls.model_validate(json.loads(p.read_text()))
        except FileNotFoundError as e:
            raise ModelError(f"no model card at {p}; run the app's pipeline to create it") from e
        except (json.JSONDecodeError, ValidationError, UnicodeDecodeError) as e:
            raise ModelError(f"model card {p} is corrupt ({e}); rerun the pipeline to rewrite it"
                             ) from e


class ServedChoice(BaseModel):
    """Which model a service should load, and why."""

    model_config = ConfigDict(frozen=True)
    served: Literal["candidate", "reference"]
    name: str | None
    path: Path | None
    reason: str
    gate_verdict: str | None = None


def _resolve(card_path: Path, ref: ModelRef) -> Path | None:
    return (card_path.parent / ref.path) if ref.path else None


def _refuse(card_path: Path, card: ModelCard, reason: str) -> ServedChoice:
    logger.warning("serving reference %s: %s", card.reference.name, reason)
    gate = card.latest_gate
    return ServedChoice(served="reference", name=card.reference.name,
                        path=_resolve(card_path, card.reference), reason=reason,
                        gate_verdict=gate.get("verdict") if gate else None)


def load_served_choice(card_path: str | Path, eval_version: str) -> ServedChoice:
    """Serve the compressed candidate only if its latest gate passed on ``eval_version``.

    Otherwise the reference, with the reason (missing/corrupt card, no gate, failed gate, gate run
    on another eval set). A missing or corrupt card names no model: the caller serves its own
    reference and shows the reason in ``/health``.
    """
    path = Path(card_path)
    try:
        card = ModelCard.load(path)
    except ModelError as e:
        logger.warning("serving reference: %s", e)
        return ServedChoice(served="reference", name=None, path=None, reason=str(e))
    return served_choice_of(card, path, eval_version)


def served_choice_of(card: ModelCard, card_path: str | Path, eval_version: str) -> ServedChoice:
    """:func:`load_served_choice` on a card already loaded from ``card_path`` (for a caller that
    reads other fields of the same card and must not read the file twice)."""
    path = Path(card_path)
    gate = card.latest_gate
    if card.candidate is None or gate is None:
        return _refuse(path, card, "no compressed candidate has been gated yet")
    if gate.get("candidate") != card.candidate.name:
        return _refuse(path, card, f"latest gate judged {gate.get('candidate')!r}, not the card's "
                                   f"candidate {card.candidate.name!r}; rerun the gate")
    if gate.get("eval_version") != eval_version:
        return _refuse(path, card, f"latest gate ran on eval set {str(gate.get('eval_version'))[:12]}"
                                   f", current is {eval_version[:12]}; rerun the gate")
    if not gate.get("passed"):
        return _refuse(path, card, "latest gate FAILED: " + "; ".join(gate.get("reasons", [])))
    return ServedChoice(served="candidate", name=card.candidate.name,
                        path=_resolve(path, card.candidate),
                        reason=f"gate PASSED on eval set {eval_version[:12]}", gate_verdict="PASS")
