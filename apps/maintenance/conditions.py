"""Operating conditions: cluster the three settings, normalise sensors per condition.

FD002/FD004 fly six operating conditions (altitude, Mach, throttle); raw sensor levels mostly
reflect the condition, not wear. Sensors are therefore z-scored against the statistics of their
own condition, learned on training units only. A row whose settings sit far from every learned
condition is rejected (``DataError``) rather than normalised against the wrong statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from apps.maintenance.data import SENSOR_COLS, SETTING_COLS
from core.errors import DataError

# Nominal spans of the C-MAPSS flight envelope (altitude 0–42 kft, Mach 0–0.84, throttle resolver
# angle up to 100): distances between settings are measured in these units so that no setting
# dominates just because of its scale.
SETTING_SCALES = np.array([42.0, 0.84, 100.0])
# A row is "in" a condition if it is within this many times the largest training distance to the
# centre, plus an absolute slack (in scaled units; 0.01 ≈ 0.4 kft, Mach 0.008, 1 TRA).
RADIUS_FACTOR = 1.5
RADIUS_SLACK = 0.01
# A sensor with at most this many distinct values inside a condition carries no trend (C-MAPSS
# has several quantised near-constant channels, e.g. s6, s16 in FD001): it is dropped.
MIN_DISTINCT_VALUES = 3


@dataclass
class ConditionNormalizer:
    """Fit on training rows; transform any rows into per-condition z-scores of useful sensors.

    Attributes set by :meth:`fit`: ``centers_`` (k, 3) settings per condition, ``radius_`` (k,)
    acceptance radius in scaled units, ``sensors_`` kept sensor names, ``mean_``/``std_`` (k, s).
    """

    n_conditions: int = 1
    seed: int = 0
    centers_: np.ndarray = field(init=False, repr=False)
    radius_: np.ndarray = field(init=False, repr=False)
    sensors_: tuple[str, ...] = field(init=False, default=())
    mean_: np.ndarray = field(init=False, repr=False)
    std_: np.ndarray = field(init=False, repr=False)

    def fit(self, frame: pd.DataFrame) -> ConditionNormalizer:
        """Learn conditions and per-condition sensor statistics from training rows."""
        if self.n_conditions < 1:
            raise DataError("n_conditions must be >= 1")
        scaled = frame[list(SETTING_COLS)].to_numpy(float) / SETTING_SCALES
        if len(scaled) < self.n_conditions:
            raise DataError(f"{len(scaled)} rows cannot define {self.n_conditions} conditions")
        self.centers_ = self._cluster(scaled)
        labels, dist = self._nearest(scaled)
        self.radius_ = np.array(
            [dist[labels == k].max() if (labels == k).any() else 0.0 for k in range(len(self.centers_))]
        )
        self.sensors_ = self._useful_sensors(frame, labels)
        values = frame[list(self.sensors_)].to_numpy(float)
        k = len(self.centers_)
        self.mean_ = np.zeros((k, len(self.sensors_)))
        self.std_ = np.ones((k, len(self.sensors_)))
        for c in range(k):
            rows = values[labels == c]
            if len(rows):
                self.mean_[c] = rows.mean(axis=0)
                std = rows.std(axis=0)
                # A sensor flat within one condition is centred, not divided by ~0.
                self.std_[c] = np.where(std > 1e-9, std, 1.0)
        return self

    def _cluster(self, scaled: np.ndarray) -> np.ndarray:
        if self.n_conditions == 1:
            return scaled.mean(axis=0, keepdims=True)
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=self.n_conditions, n_init=10, random_state=self.seed)
        km.fit(scaled)
        return np.asarray(km.cluster_centers_)

    def _nearest(self, scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist = np.linalg.norm(scaled[:, None, :] - self.centers_[None, :, :], axis=2)
        labels = dist.argmin(axis=1)
        return labels, dist[np.arange(len(scaled)), labels]

    def _useful_sensors(self, frame: pd.DataFrame, labels: np.ndarray) -> tuple[str, ...]:
        largest = np.bincount(labels).argmax()
        rows = frame.loc[labels == largest, list(SENSOR_COLS)]
        keep = tuple(c for c in SENSOR_COLS if rows[c].nunique() >= MIN_DISTINCT_VALUES)
        if not keep:
            raise DataError("no sensor varies within an operating condition; check the input")
        return keep

    def condition(self, frame: pd.DataFrame) -> np.ndarray:
        """Condition index per row; ``DataError`` naming the first row in no known condition."""
        if not hasattr(self, "centers_"):
            raise DataError("ConditionNormalizer is not fitted: call fit() on training rows first")
        settings = frame[list(SETTING_COLS)].to_numpy(float)
        labels, dist = self._nearest(settings / SETTING_SCALES)
        limit = RADIUS_FACTOR * self.radius_[labels] + RADIUS_SLACK
        outside = np.flatnonzero(dist > limit)
        if len(outside):
            i = int(outside[0])
            raise DataError(
                f"unknown operating condition in row {i}: settings {settings[i].tolist()} are not "
                f"near any of the {len(self.centers_)} conditions seen in training; "
                "send rows from the subset the model was trained on"
            )
        return labels

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Frame with unit, cycle, condition and the kept sensors as per-condition z-scores."""
        labels = self.condition(frame)
        values = frame[list(self.sensors_)].to_numpy(float)
        z = (values - self.mean_[labels]) / self.std_[labels]
        out = pd.DataFrame(z, columns=list(self.sensors_), index=frame.index)
        out.insert(0, "condition", labels)
        out.insert(0, "cycle", frame["cycle"].to_numpy())
        out.insert(0, "unit", frame["unit"].to_numpy())
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready state (for the model card and artifacts)."""
        return {
            "n_conditions": self.n_conditions,
            "centers_scaled": self.centers_.tolist(),
            "radius_scaled": self.radius_.tolist(),
            "sensors": list(self.sensors_),
        }
