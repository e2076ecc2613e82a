"""Which eval set the compact policy's gate would run on now, without rebuilding it.

The gate's eval set (``apps.cooling.compact.gate_compact``) is the teacher's own actions on the
states it visits in ``apps.cooling.train.rollout_states`` over the held-out weather/grid pairs.
Rebuilding it at serve time means importing torch and stable-baselines3 and simulating two weeks
per pair on the request path, which the compact policy exists to avoid. So the pipeline stores
in the model card (``protocol["gate_eval_set"]``) the eval set's content version next to what
determines it: the teacher file's bytes, the held-out weather and grid files' bytes, the source of
the cooling modules the rollout and the gate run (followed through their imports), the building,
the number of days and the first day. The rollout is deterministic (seeded reset, deterministic
policy), so the same inputs give the same eval set: serving passes the stored version when the
inputs fingerprinted now match, and otherwise a version derived from the new inputs, which
``core.gates.load_served_choice`` refuses. This is conservative by design: a code edit that
leaves the states unchanged still sends serving to the reference until the pipeline reruns (the
pipeline's run keys treat a code edit the same way).
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DataError

if TYPE_CHECKING:
    from apps.cooling.scenario import ScenarioSpec
    from core.gates import ModelCard

CARD_KEY = "gate_eval_set"
PACKAGE = "apps.cooling"
# The modules that build the gate's eval set: rollout_states (states, slices) and gate_compact
# (teacher actions as targets, the EvalSet itself). Their imports inside the package are followed.
ROOT_MODULES = ("apps.cooling.train", "apps.cooling.compact")
UNRECORDED = "unrecorded"
GATE_FIRST_DAY = 181  # 1 July (0-based day of 2022): the gate's held-out rollouts start here
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class GateEvalInputs:
    """Everything the gate's eval set is built from (sha256 hex digests and rollout settings)."""

    teacher_sha256: str
    data_sha256: str
    code_sha256: str
    building: str
    days: int
    start_day: int

    @property
    def fingerprint(self) -> str:
        """sha256 of all inputs (canonical JSON)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def changed(self, other: GateEvalInputs) -> list[str]:
        """Names of the inputs that differ from ``other``, in words."""
        words = {"teacher_sha256": "the teacher (reference) weights",
                 "data_sha256": "the held-out weather/grid files",
                 "code_sha256": "the cooling simulation/rollout code"}
        return [words.get(f.name, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]

    @classmethod
    def from_dict(cls, raw: Any) -> GateEvalInputs | None:
        """The stored inputs, or None when ``raw`` is not a complete record of them."""
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            return None
        return cls(**raw)


@dataclass(frozen=True)
class EvalSetNow:
    """The eval-set version serving should gate on now, and why it differs (empty: it does not)."""

    version: str
    reason: str


def gate_eval_inputs(teacher_path: Path, specs: Sequence[ScenarioSpec], building: str, days: int,
                     start_day: int) -> GateEvalInputs:
    """Fingerprint the inputs of the eval set; DataError when a file is missing."""
    from core.runs import fingerprint_paths

    teacher = Path(teacher_path)
    if not teacher.is_file():
        raise DataError(f"teacher weights {teacher} are missing; rerun `greenstack run cooling`")
    return GateEvalInputs(
        # bytes only: the gate hashes the run store's copy, serving the models/ copy (other name)
        teacher_sha256=hashlib.sha256(teacher.read_bytes()).hexdigest(),
        data_sha256=fingerprint_paths([p for s in specs for p in (s.weather, s.grid)]),
        code_sha256=rollout_code_sha256(), building=building, days=int(days),
        start_day=int(start_day))


def card_entry(eval_version: str, inputs: GateEvalInputs) -> dict[str, Any]:
    """What the pipeline stores under ``card.protocol[CARD_KEY]``."""
    return {"version": eval_version, "inputs": asdict(inputs), "fingerprint": inputs.fingerprint,
            "built_by": "apps.cooling.train.rollout_states + apps.cooling.compact.gate_compact"}


def eval_version_now(card: ModelCard, card_path: Path, data_dir: Path | None) -> EvalSetNow:
    """The version of the eval set the gate would run on now: the stored one if nothing it is
    built from changed, else the fingerprint of the current inputs (never equal to a gated one)."""
    from apps.cooling.scenario import held_out_specs

    entry = card.protocol.get(CARD_KEY)
    stored = GateEvalInputs.from_dict(entry.get("inputs")) if isinstance(entry, dict) else None
    if stored is None or not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
        return EvalSetNow(UNRECORDED, "the card does not record what its gate's eval set was built "
                                      "from (written before this check); rerun `greenstack run cooling`")
    teacher = card_path.parent / (card.reference.path or "")
    try:
        split = str(card.protocol.get("plan", {}).get("split", "default"))
        now = gate_eval_inputs(teacher, held_out_specs(stored.building, data_dir, split), stored.building,
                               stored.days, stored.start_day)
    except DataError as e:
        return EvalSetNow(UNRECORDED, f"cannot fingerprint the eval set's inputs now: {e}")
    if now == stored:
        return EvalSetNow(entry["version"], "")
    return EvalSetNow(now.fingerprint, f"{', '.join(now.changed(stored))} changed since the gate "
                                       "ran; rerun `greenstack run cooling` to gate again")


@dataclass(frozen=True)
class Recheck:
    """Outcome of :func:`apps.cooling.gating.recheck_card`: the eval set rebuilt now vs the one
    the gate ran on."""

    card_path: str
    gated_version: str
    rebuilt_version: str
    recorded: bool  # True: the inputs were written to the card; serving accepts the gate
    reason: str


def rollout_code_sha256() -> str:
    """sha256 over the sources of ROOT_MODULES and every package module they import."""
    from core.runs import fingerprint_paths

    return fingerprint_paths(_module_file(n) for n in _module_closure(ROOT_MODULES))


def _module_file(name: str) -> Path:
    return _PACKAGE_DIR.joinpath(*name.split(".")[2:]).with_suffix(".py")


def _module_closure(roots: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or not _module_file(name).is_file():
            continue
        seen.add(name)
        todo.extend(_package_imports(_module_file(name)))
    return seen


def _package_imports(path: Path) -> set[str]:
    """Package modules imported anywhere in ``path`` (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PACKAGE + "."))
        elif isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found.update(f"{PACKAGE}.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(str(node.module))
    return found
