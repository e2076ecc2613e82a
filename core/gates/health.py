"""Model health: per model card, which model serves and why (read by the API and the dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import GreenstackError
from core.gates.card import ModelCard, load_served_choice


@dataclass(frozen=True)
class ModelHealth:
    """One model card: which model serves and why (the gate's verdict)."""

    card: str  # card file under models/<app>/
    gate_verdict: str  # PASS, FAIL, or none (no gate has run)
    served: str  # candidate (compressed, gate passed) or reference
    reason: str
    reference: str | None = None
    candidate: str | None = None


def model_health(models_dir: Path, app: str) -> list[ModelHealth]:
    """Serving choice per model card of ``app``, judged on the eval set its card records."""
    out = []
    for path in sorted((models_dir / app).glob("*.card.json")):
        try:
            card = ModelCard.load(path)
        except GreenstackError as e:
            out.append(ModelHealth(card=path.name, gate_verdict="none", served="reference",
                                   reason=str(e)))
            continue
        gate = card.latest_gate or {}
        choice = load_served_choice(path, card.eval_version or "")
        out.append(ModelHealth(
            card=path.name, reference=card.reference.name,
            candidate=card.candidate.name if card.candidate else None,
            gate_verdict=str(gate.get("verdict") or ("PASS" if gate.get("passed") else "FAIL"))
            if gate else "none",
            served=choice.served, reason=choice.reason,
        ))  # fmt: skip
    return out
