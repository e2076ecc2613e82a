"""Training the teacher on labelled scenes and distilling the student with core.compress.

Labelled data: simulated pairs (default, offline), EuroSAT-layout patches and raster/label-raster
pairs (see :mod:`training_data`). Distillation uses soft targets on the same labelled scenes plus
real unlabelled imagery; on real tiles the hard-label term uses the teacher's own argmax
(pseudo-labels), since no ground truth exists for them — stated in the model card.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.deforestation.model import build, set_normalisation
from apps.deforestation.simulate import SimPair

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None] | None


@dataclass(frozen=True)
class TrainConfig:
    """Small by default so ``greenstack run deforestation`` fits a few minutes on 2 cores."""

    teacher_epochs: int = 20
    student_epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    T: float = 2.0
    alpha: float = 0.7
    seed: int = 0
    real_repeats: int = 2  # times each real unlabelled tile appears per distillation epoch


def stack_samples(pairs: list[SimPair]) -> tuple[np.ndarray, np.ndarray]:
    """Both dates of every pair as single-date samples: (2n, bands, h, w), (2n, h, w) int64."""
    x = np.concatenate([np.stack([p.before for p in pairs]), np.stack([p.after for p in pairs])])
    y = np.concatenate([np.stack([p.label_before for p in pairs]),
                        np.stack([p.label_after for p in pairs])])
    return x.astype(np.float32), y.astype(np.int64)


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator,
             augment: bool = True) -> list[tuple[Any, Any]]:
    import torch

    order = rng.permutation(len(x))
    out = []
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        xb, yb = x[idx], y[idx]
        if augment:  # flips and 90° turns: land cover has no preferred orientation
            k = int(rng.integers(0, 4))
            xb, yb = np.rot90(xb, k, (2, 3)), np.rot90(yb, k, (1, 2))
        out.append((torch.from_numpy(np.ascontiguousarray(xb)),
                    torch.from_numpy(np.ascontiguousarray(yb))))
    return out


def train_teacher(x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
                  progress: Progress = None) -> tuple[Any, list[float]]:
    """Cross-entropy training of the U-Net/ResNet-18 teacher; returns (model, loss per epoch)."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build("teacher", x.shape[1])
    set_normalisation(model, x.mean((0, 2, 3)), x.std((0, 2, 3)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    for epoch in range(cfg.teacher_epochs):
        model.train()
        total, n = 0.0, 0
        for xb, yb in _batches(x, y, cfg.batch_size, rng):
            loss = torch.nn.functional.cross_entropy(model(xb), yb, ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()), n + 1
        losses.append(total / n)
        logger.info("teacher epoch %d loss %.4f", epoch, losses[-1])
        if progress:
            progress("train teacher", epoch + 1, cfg.teacher_epochs)
    return model.eval(), losses


def pixel_flatten(model: Any) -> Any:
    """Wrap a segmentation net so logits come out as (pixels, classes) for hinton_loss."""
    from torch import nn

    class PixelFlatten(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x: Any) -> Any:
            z = self.inner(x)
            return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])

    return PixelFlatten()


def distill_student(teacher: Any, x_labelled: np.ndarray, y_labelled: np.ndarray,
                    x_unlabelled: np.ndarray, cfg: TrainConfig,
                    progress: Progress = None) -> tuple[Any, Any]:
    """Distil the student (core.compress.distill, Hinton loss per pixel); returns (student, result)."""
    import torch

    from core.compress import distill

    torch.manual_seed(cfg.seed + 1)
    rng = np.random.default_rng(cfg.seed + 1)
    if len(x_unlabelled):
        with torch.inference_mode():
            pseudo = teacher(torch.from_numpy(x_unlabelled)).argmax(1).numpy()
        # Real tiles repeated: agreement with the teacher on real imagery is a gate check.
        reps = cfg.real_repeats
        x = np.concatenate([x_labelled, *[x_unlabelled] * reps])
        y = np.concatenate([y_labelled, *[pseudo] * reps])
    else:
        x, y = x_labelled, y_labelled
    student = build("student", x.shape[1])
    student.band_mean.copy_(teacher.band_mean)
    student.band_std.copy_(teacher.band_std)
    loader = [(xb, yb.reshape(-1)) for xb, yb in _batches(x, y, cfg.batch_size, rng)]

    def on_epoch(epoch: int, loss: float) -> None:
        logger.info("student epoch %d loss %.4f", epoch, loss)
        if progress:
            progress("distil student", epoch + 1, cfg.student_epochs)

    result = distill(pixel_flatten(teacher), pixel_flatten(student), loader, cfg.student_epochs,
                     T=cfg.T, alpha=cfg.alpha, task="classification", on_epoch=on_epoch,
                     lr=cfg.lr)
    return student.eval(), result


def real_unlabelled_tiles(images: list[np.ndarray], valid: list[np.ndarray],
                          size_px: int = 64) -> np.ndarray:
    """Non-overlapping fully valid (bands, size, size) crops of real scenes."""
    crops = []
    for img, ok in zip(images, valid, strict=True):
        for r in range(0, img.shape[1] - size_px + 1, size_px):
            for c in range(0, img.shape[2] - size_px + 1, size_px):
                if ok[r:r + size_px, c:c + size_px].all():
                    crops.append(img[:, r:r + size_px, c:c + size_px])
    if not crops:
        return np.zeros((0, images[0].shape[0] if images else 3, size_px, size_px), np.float32)
    return np.stack(crops).astype(np.float32)
