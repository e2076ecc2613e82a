"""Grounding: answer questions about greenstack's own results from the ledger and model cards.

Retrieval is deterministic (keyword intent + app filter); every fact carries a citation id
(``ledger:saving#<id>``, ``ledger:savings#<ids>`` as ``3-5,9``, ``ledger:footprints#<a>-<b>``,
``card:<app>/<file>``) returned with the answer. Savings are counted as core.impact counts them:
a superseded estimate is neither summed nor cited.
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


def retrieve(question: str, ledger: Ledger, models_dir: Path | None,
             max_facts: int = 8) -> Grounding:
    """Savings and footprints per app from the ledger, plus served-model facts from the cards
    under ``models_dir`` (None: the ledger only)."""
    since = _year_start_unix_s(question)
    period = "this year" if since else "all time"
    facts: list[str] = []
    cites: list[str] = []
    for app in _apps_in(question):
        saving = _saving_fact(ledger, app, since, period)
        if saving:
            facts.append(saving[1])
            cites.append(saving[0])
        prints = [f for f in ledger.footprints(app=app)
                  if since is None or f.created_unix_s >= since]
        if prints:
            facts.append(f"{app} emitted {sum(f.co2e_kg for f in prints):.6g} kgCO2e "
                         f"({period}; {len(prints)} measured records)")
            cites.append(f"ledger:footprints#{prints[0].id}-{prints[-1].id}")
        facts_cards = _card_facts(models_dir / app) if models_dir is not None else []
        for cite, fact in facts_cards:
            facts.append(fact)
            cites.append(cite)
    if not facts:
        facts.append("the ledger holds no records for this question yet; run "
                     "`greenstack run <app>` first")
        cites.append("ledger:empty")
    return Grounding(tuple(facts[:max_facts]), tuple(cites[:max_facts]))


def _saving_fact(ledger: Ledger, app: str, since: float | None,
                 period: str) -> tuple[str, str] | None:
    """(citation, fact) for an app's savings created since ``since`` (unix s; None: all time).

    Counted as core.impact counts them (``split_savings``): every event, only the latest estimate
    per kind and baseline; superseded estimates are named in the fact but neither summed nor cited.
    """
    from core.impact import MONITORING, split_savings

    split = split_savings([s for s in ledger.savings(app=app) if s.kind != MONITORING])
    counted = [s for s in split.counted if since is None or s.created_unix_s >= since]
    superseded = [s for s in split.superseded if since is None or s.created_unix_s >= since]
    if not counted:
        return None
    low, high = sum(s.co2e_kg_low for s in counted), sum(s.co2e_kg_high for s in counted)
    note = (f"; {len(superseded)} older estimates superseded by a later one, not counted"
            if superseded else "")
    fact = (f"{app} saved {sum(s.co2e_kg for s in counted):.6g} kgCO2e ({period}; range "
            f"{low:.6g}-{high:.6g}; {len(counted)} records counted{note}; kinds: "
            f"{', '.join(sorted({s.kind for s in counted}))}; baseline: {counted[-1].baseline})")
    if len(counted) == 1:
        return f"ledger:saving#{counted[0].id}", fact
    return f"ledger:savings#{_id_ranges([s.id for s in counted])}", fact


def _id_ranges(ids: list[int]) -> str:
    """Ascending ids as runs: [1, 2, 3, 5] → ``1-3,5``."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


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
