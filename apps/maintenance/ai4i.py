"""AI4I 2020 machine-failure classifier (Matzka 2020), without the leaking failure-mode flags.

TWF/HDF/PWF/OSF/RNF are the label broken down by cause, so they are dropped on read. The split
is stratified train / validation / test; the decision threshold maximises F1 on validation only,
then PR-AUC and F1 are reported on the untouched test part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError

logger = logging.getLogger(__name__)

LABEL = "Machine failure"
LEAKY = ("TWF", "HDF", "PWF", "OSF", "RNF")
NUMERIC = ("Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]",
           "Torque [Nm]", "Tool wear [min]")
TYPES = ("L", "M", "H")
SHIPPED_DATA = Path(__file__).resolve().parents[2] / "data"


def find_ai4i(*roots: Path) -> Path | None:
    """``<root>/ai4i/ai4i2020.csv[.gz]`` in the first root that has it, then in the shipped
    sample (a NASA-only data folder has no AI4I); None (logged) if none has it."""
    for p in (r / "ai4i" / f"ai4i2020.csv{ext}" for r in (*roots, SHIPPED_DATA)
              for ext in (".gz", "")):
        if p.is_file():
            return p
    logger.warning("AI4I file not found under %s; AI4I metrics skipped", roots[0])
    return None


def read_ai4i(path: Path) -> pd.DataFrame:
    """Read ``ai4i2020.csv[.gz]`` (UTF-8 with BOM); the failure-mode flags are dropped."""
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read AI4I file {path}: {e}") from e
    missing = [c for c in (*NUMERIC, "Type", LABEL) if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks columns {missing}; expected the UCI AI4I 2020 file")
    if frame[[*NUMERIC, LABEL]].isna().any().any():
        raise DataError(f"{path} has missing values in feature or label columns")
    return frame.drop(columns=[c for c in LEAKY if c in frame.columns])


def ai4i_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Physical features: raw signals, product type, temperature gap, power [W], wear×torque."""
    unknown = set(frame["Type"]) - set(TYPES)
    if unknown:
        raise DataError(f"unknown product Type {sorted(unknown)}; expected {TYPES}")
    out = frame[list(NUMERIC)].astype(float).copy()
    out["type_code"] = frame["Type"].map({t: i for i, t in enumerate(TYPES)}).astype(float)
    out["temp_gap_k"] = out["Process temperature [K]"] - out["Air temperature [K]"]
    out["power_w"] = out["Torque [Nm]"] * out["Rotational speed [rpm]"] * 2 * np.pi / 60
    out["wear_torque_nm_min"] = out["Tool wear [min]"] * out["Torque [Nm]"]
    return out


@dataclass(frozen=True)
class Ai4iResult:
    """Test-set quality of the classifier; threshold chosen on validation."""

    pr_auc: float
    f1: float
    precision: float
    recall: float
    threshold: float
    val_f1: float
    n_train: int
    n_val: int
    n_test: int
    positives_test: int

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready."""
        return dict(self.__dict__)


def _best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import precision_recall_curve

    prec, rec, thr = precision_recall_curve(y, p)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    i = int(np.argmax(f1))
    return float(thr[i]), float(f1[i])


def train_ai4i(frame: pd.DataFrame, seed: int = 0) -> tuple[object, Ai4iResult]:
    """Fit gradient boosting on 60 % of rows, pick the threshold on 20 %, report on 20 %."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score
    from sklearn.model_selection import train_test_split

    X, y = ai4i_features(frame).to_numpy(), frame[LABEL].to_numpy().astype(int)
    X_tr, X_rest, y_tr, y_rest = train_test_split(X, y, test_size=0.4, stratify=y, random_state=seed)
    X_val, X_te, y_val, y_te = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed)
    model = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, random_state=seed)
    model.fit(X_tr, y_tr)
    threshold, val_f1 = _best_threshold(y_val, model.predict_proba(X_val)[:, 1])
    p_te = model.predict_proba(X_te)[:, 1]
    hard = p_te >= threshold
    result = Ai4iResult(
        float(average_precision_score(y_te, p_te)), float(f1_score(y_te, hard)),
        float(precision_score(y_te, hard, zero_division=0)), float(recall_score(y_te, hard)),
        threshold, val_f1, len(y_tr), len(y_val), len(y_te), int(y_te.sum()),
    )
    logger.info("AI4I: PR-AUC %.3f F1 %.3f (threshold %.3f)", result.pr_auc, result.f1, threshold)
    return model, result
