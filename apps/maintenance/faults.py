"""Fault-mode slices. C-MAPSS does not label which fault (HPC or fan) an engine has, so for
subsets with two fault modes the mode is *inferred*: engines are clustered by the direction of
their sensor drift (last cycles minus first cycles, normalised). Test engines are assigned to the
nearest direction; early-life engines with little drift may be assigned wrongly. Slices built from
this are labelled ``inferred``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DRIFT_CYCLES = 20  # cycles averaged at the start and at the end of a trajectory


def drift_directions(norm: pd.DataFrame, sensors: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(units, unit-length drift vectors) from a normalised frame."""
    units, vectors = [], []
    for unit, rows in norm.groupby("unit", sort=True):
        x = rows[list(sensors)].to_numpy(float)
        n = min(DRIFT_CYCLES, max(1, len(x) // 2))
        drift = x[-n:].mean(axis=0) - x[:n].mean(axis=0)
        vectors.append(drift / (np.linalg.norm(drift) + 1e-9))
        units.append(unit)
    return np.asarray(units), np.asarray(vectors)


def fit_fault_directions(norm_train: pd.DataFrame, sensors: tuple[str, ...], n_modes: int,
                         seed: int = 0) -> np.ndarray:
    """Cluster centres (n_modes, sensors) of training engines' drift directions."""
    _, vectors = drift_directions(norm_train, sensors)
    if n_modes <= 1:
        return vectors.mean(axis=0, keepdims=True)
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=n_modes, n_init=10, random_state=seed).fit(vectors)
    return np.asarray(km.cluster_centers_)


def assign_fault_modes(norm: pd.DataFrame, sensors: tuple[str, ...], centres: np.ndarray,
                       names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(units, mode label per unit) by highest cosine similarity to a centre."""
    units, vectors = drift_directions(norm, sensors)
    if len(centres) == 1:
        return units, np.array([names[0]] * len(units))
    unit_centres = centres / (np.linalg.norm(centres, axis=1, keepdims=True) + 1e-9)
    best = (vectors @ unit_centres.T).argmax(axis=1)
    labels = np.array([f"inferred_{chr(ord('A') + int(b))}" for b in best])
    return units, labels
