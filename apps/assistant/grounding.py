"""Grounding: answer questions about greenstack's own results from the ledger and model cards.

Retrieval is deterministic (keyword intent + app filter); every fact carries a citation id
(``ledger:saving#<id>``, ``ledger:footprint#<id>``, ``card:<app>/<file>``) returned with the answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.ledger import Ledger

APPS = ("maintenance", "deforestation", "cooling", "assistant")
_APP_WORDS = {
    "maintenance": ("maintenance", "turbofan", "engine"),
    "deforestation": ("deforestation", "forest"),
    "cooling": ("cooling", "hvac", "building"),
    "assistant": ("assistant", "llm", "chat"),
}
_INTENT = re.compile(
    r"\b(sav(e|ed|es|ing|ings)|emi(t|tted|ssions?)|co2e?|carbon|footprint|ledger|gate|"
    r"model card|kwh|energy)\b", re.IGNORECASE)
_SUITE = re.compile(r"\b(greenstack|suite|agent|our|this year|ledger|model card)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Grounding:
    """Facts retrieved for a question, as a prompt block, with their citation ids."""

    facts: tuple[str, ...]
    citations: tuple[str, ...]

    def prompt(self) -> str:
        """System-message text the model answers from."""
        lines = "\n".join(f"[{c}] {f}" for c, f in zip(self.citations, self.facts, strict=True))
        return ("Answer only from these greenstack records and cite them in brackets. "
                f"Records:\n{lines}")


def wants_grounding(question: str) -> bool:
    """A question about the suite's own results (savings, emissions, gates of an app)."""
    mentions_app = any(w in question.lower() for ws in _APP_WORDS.values() for w in ws)
    return bool(_INTENT.search(question)) and (mentions_app or bool(_SUITE.search(question)))


def _apps_in(question: str) -> tuple[str, ...]:
    low = question.lower()
    found = tuple(a for a, words in _APP_WORDS.items() if any(w in low for w in words))
    return found or APPS


def _year_start_unix_s(question: str) -> float | None:
    if "this year" not in question.lower():
        return None
    now = datetime.now(UTC)
    return datetime(now.year, 1, 1, tzinfo=UTC).timestamp()


def retrieve(question: str, ledger: Ledger, models_dir: Path, max_facts: int = 8) -> Grounding:
    """Savings and footprints per app from the ledger, plus served-model facts from cards."""
    since = _year_start_unix_s(question)
    period = "this year" if since else "all time"
    facts: list[str] = []
    cites: list[str] = []
    for app in _apps_in(question):
        savings = [s for s in ledger.savings(app=app)
                   if s.kind != "monitoring" and (since is None or s.created_unix_s >= since)]
        if savings:
            total = sum(s.co2e_kg for s in savings)
            low = sum(s.co2e_kg_low for s in savings)
            high = sum(s.co2e_kg_high for s in savings)
            kinds = sorted({s.kind for s in savings})
            facts.append(f"{app} saved {total:.6g} kgCO2e ({period}; range {low:.6g}-{high:.6g}; "
                         f"kinds: {', '.join(kinds)}; baseline: {savings[-1].baseline})")
            cites.append(f"ledger:saving#{savings[-1].id}" if len(savings) == 1 else
                         f"ledger:savings#{savings[0].id}-{savings[-1].id}")
        prints = [f for f in ledger.footprints(app=app)
                  if since is None or f.created_unix_s >= since]
        if prints:
            facts.append(f"{app} emitted {sum(f.co2e_kg for f in prints):.6g} kgCO2e "
                         f"({period}; {len(prints)} measured records)")
            cites.append(f"ledger:footprints#{prints[0].id}-{prints[-1].id}")
        facts_cards = _card_facts(models_dir / app)
        for cite, fact in facts_cards:
            facts.append(fact)
            cites.append(cite)
    if not facts:
        facts.append("the ledger holds no records for this question yet; run "
                     "`greenstack run <app>` first")
        cites.append("ledger:empty")
    return Grounding(tuple(facts[:max_facts]), tuple(cites[:max_facts]))


def _card_facts(app_dir: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(app_dir.glob("*.card.json")) if app_dir.is_dir() else []:
        try:
            card = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a corrupt card is reported by the gate code, not grounded on
        gate = (card.get("gates") or [{}])[-1]
        cand = (card.get("candidate") or {}).get("name")
        out.append((f"card:{app_dir.name}/{path.name}",
                    f"model card {card.get('name')}: candidate {cand}, latest gate "
                    f"{gate.get('verdict', 'none')}"))
    return out
