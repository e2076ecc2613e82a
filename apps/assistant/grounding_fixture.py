"""The fixed ledger the serving search grounds its ``grounding`` prompts on.

``data/assistant/grounding_ledger.json`` holds footprints and savings that are written, in file
order, into an empty in-memory ledger, so record ids (1, 2, 3, ... per table) and every fact
:func:`apps.assistant.grounding.retrieve` finds are the same on every run. The graders of the
grounding prompts name those ids and numbers; the user's live ledger is never read. Retrieval
runs exactly as in the service (same intent test, same facts and citation ids); model cards are
left out, so only the ledger grounds these answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.grounding import Grounding, retrieve, wants_grounding
from apps.assistant.serving_set import GROUNDING_FIXTURE
from core.errors import DataError

if TYPE_CHECKING:
    from core.ledger import Ledger

def fixture_path(data_dir: Path) -> Path:
    """``<data_dir>/assistant/grounding_ledger.json``."""
    return Path(data_dir) / "assistant" / GROUNDING_FIXTURE


def build_fixture_ledger(data_dir: Path) -> Ledger:
    """An in-memory ledger holding the fixture's records, ids in file order."""
    from core.carbon.intensity import Intensity
    from core.ledger import Ledger

    path = fixture_path(data_dir)
    if not path.is_file():
        raise DataError(f"{path} is missing; restore data/assistant from git (the grounding "
                        "prompts of the serving set are graded against it)")
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        intensity = Intensity(**body["intensity"])
        ledger = Ledger("sqlite://")
        for row in body["footprints"]:
            ledger.record_footprint(app=row["app"], run_id=row["run_id"], phase=row["phase"],
                                    measurement=_measurement(row), intensity=intensity)
        for row in body["savings"]:
            ledger.record_saving(**row)
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{path} is not a valid grounding fixture ({e!r}); it needs intensity, "
                        "footprints and savings as in git") from e
    return ledger


def _measurement(row: dict[str, Any]) -> Any:
    from core.energy.measurement import ComponentEnergy, Measurement

    component = ComponentEnergy("cpu_model", float(row["energy_j"]), "modelled",
                                "greenstack grounding fixture (invented)")
    return Measurement(name=row["name"], unit=None, count=0, start_unix_s=0.0,
                       wall_s=float(row["wall_s"]), cpu_s=float(row["wall_s"]),
                       components=(component,), scope="process", utilisation=1.0,
                       uncertainty_rel=0.4)


class FixtureGrounding:
    """``question -> Grounding | None`` on the fixture ledger, as the service grounds a request
    (None when the question is not about the suite's own results)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def __call__(self, question: str) -> Grounding | None:
        if not wants_grounding(question):
            return None
        return retrieve(question, self.ledger, None)


def fixture_grounding(data_dir: Path) -> FixtureGrounding:
    """Grounding on the shipped fixture under ``data_dir``."""
    return FixtureGrounding(build_fixture_ledger(data_dir))
