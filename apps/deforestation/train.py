"""Training the teacher on labelled scenes and distilling the student with core.compress.

Labelled data: simulated pairs (default, offline), EuroSAT-layout patches and raster/label-raster
pairs (see :mod:`training_data`). The teacher learns on whole 128-px scenes: a ResNet-18 U-Net
(stride 32) trained on 64-px crops sees a 2×2 bottleneck and generalised badly to the larger
windows it predicts at (loss F1 60 vs 71 on held-out simulated scenes).

Distillation: the teacher runs ONCE on each whole scene (simulated, and real unlabelled imagery),
so its soft targets carry the context it has at inference; the student learns them on crops,
with the crops' teacher outputs passed to core.compress.distill precomputed. The hard-label term
uses the teacher's own argmax (real imagery has no ground truth; :func:`teacher_targets` can take
true labels where they exist) — stated in the model card.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.deforestation.model import build, predict_probs, set_normalisation
from apps.deforestation.simulate import SimPair
from apps.progress import Progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Small by default so ``greenstack run deforestation`` fits a few minutes on 2 cores."""

    teacher_epochs: int = 25
    student_epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3  # peak of the one-cycle schedule
    T: float = 2.0
    alpha: float = 0.9  # mostly the teacher's soft targets: the gate asks for agreement
    seed: int = 0
    real_repeats: int = 3  # times each real unlabelled crop appears per distillation epoch
    crop_px: int = 64  # student training crop


def stack_samples(pairs: list[SimPair]) -> tuple[np.ndarray, np.ndarray]:
    """Both dates of every pair as single-date samples: (2n, bands, h, w), (2n, h, w) int64."""
    x = np.concatenate([np.stack([p.before for p in pairs]), np.stack([p.after for p in pairs])])
    y = np.concatenate([np.stack([p.label_before for p in pairs]),
                        np.stack([p.label_after for p in pairs])])
    return x.astype(np.float32), y.astype(np.int64)


def _augment(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One random 90° turn and flip per sample, the same for every array (image, labels,
    teacher maps): land cover has no preferred orientation."""
    n = len(arrays[0])
    turns, flips = rng.integers(0, 4, n), rng.random(n) < 0.5
    out = []
    for a in arrays:
        ax = (a.ndim - 3, a.ndim - 2)  # the two spatial axes of one sample
        out.append(np.stack([np.rot90(s[..., ::-1] if f else s, k, ax)
                             for s, k, f in zip(a, turns, flips, strict=True)]))
    return [np.ascontiguousarray(a) for a in out]


def _one_cycle(params: Any, cfg: TrainConfig, epochs: int, n: int) -> tuple[Any, Any]:
    import torch

    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    steps = epochs * -(-n // cfg.batch_size)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)


def train_teacher(x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
                  progress: Progress = None) -> tuple[Any, list[float]]:
    """Cross-entropy training of the U-Net/ResNet-18 teacher; returns (model, loss per epoch)."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build("teacher", x.shape[1])
    set_normalisation(model, x.mean((0, 2, 3)), x.std((0, 2, 3)))
    opt, sched = _one_cycle(model.parameters(), cfg, cfg.teacher_epochs, len(x))
    losses = []
    for epoch in range(cfg.teacher_epochs):
        model.train()
        order = rng.permutation(len(x))
        xa, ya = _augment([x[order], y[order]], rng)
        total, n = 0.0, 0
        for i in range(0, len(xa), cfg.batch_size):
            xb = torch.from_numpy(xa[i:i + cfg.batch_size])
            yb = torch.from_numpy(ya[i:i + cfg.batch_size])
            loss = torch.nn.functional.cross_entropy(model(xb), yb, ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + float(loss.detach()), n + 1
        losses.append(total / n)
        logger.info("teacher epoch %d loss %.4f", epoch, losses[-1])
        if progress:
            progress("train teacher", epoch + 1, cfg.teacher_epochs)
    return model.eval(), losses


@dataclass(frozen=True)
class DistilSet:
    """Student training crops: images (n, bands, c, c) float32, hard labels (n, c, c) int64,
    teacher log-probabilities (n, 3, c, c) float32 computed on the whole scene."""

    images: np.ndarray
    hard: np.ndarray
    teacher_logp: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @staticmethod
    def concat(sets: Sequence[DistilSet]) -> DistilSet:
        return DistilSet(*(np.concatenate([getattr(d, f) for d in sets])
                           for f in ("images", "hard", "teacher_logp")))


def teacher_targets(teacher: Any, scenes: Sequence[np.ndarray], valid: Sequence[np.ndarray],
                    labels: Sequence[np.ndarray] | None, crop_px: int,
                    repeats: int = 1) -> DistilSet:
    """Teacher outputs on each WHOLE scene, cut into fully valid ``crop_px`` crops.

    ``labels`` (true per-pixel classes) feed the hard-label term where known; otherwise the
    teacher's argmax does. Each crop appears ``repeats`` times.
    """
    xs, hs, ts = [], [], []
    for i, (img, ok) in enumerate(zip(scenes, valid, strict=True)):
        logp = np.log(np.maximum(predict_probs(teacher, np.nan_to_num(img)), 1e-6))
        hard = labels[i] if labels is not None else logp.argmax(0)
        for r in range(0, img.shape[1] - crop_px + 1, crop_px):
            for c in range(0, img.shape[2] - crop_px + 1, crop_px):
                win = (slice(r, r + crop_px), slice(c, c + crop_px))
                if ok[win].all():
                    xs += [img[:, win[0], win[1]]] * repeats
                    hs += [hard[win]] * repeats
                    ts += [logp[:, win[0], win[1]]] * repeats
    if not xs:
        bands = scenes[0].shape[0] if len(scenes) else 3
        return DistilSet(np.zeros((0, bands, crop_px, crop_px), np.float32),
                         np.zeros((0, crop_px, crop_px), np.int64),
                         np.zeros((0, 3, crop_px, crop_px), np.float32))
    return DistilSet(np.stack(xs).astype(np.float32), np.stack(hs).astype(np.int64),
                     np.stack(ts).astype(np.float32))


def sim_scenes(pairs: Sequence[SimPair]) -> tuple[list[np.ndarray], list[np.ndarray],
                                                  list[np.ndarray]]:
    """(images, valid masks, labels) of both dates of every simulated pair."""
    imgs = [p.before for p in pairs] + [p.after for p in pairs]
    labels = [p.label_before for p in pairs] + [p.label_after for p in pairs]
    return imgs, [np.ones(i.shape[1:], dtype=bool) for i in imgs], labels


def distill_student(teacher: Any, data: DistilSet, cfg: TrainConfig,
                    progress: Progress = None) -> tuple[Any, Any]:
    """Distil the student (core.compress.distill, Hinton loss per pixel, one-cycle LR) on
    precomputed teacher outputs; returns (student, CompressionResult)."""
    import torch

    from core.compress import distill

    torch.manual_seed(cfg.seed + 1)
    rng = np.random.default_rng(cfg.seed + 1)
    x, hard, logp = _augment([data.images, data.hard, data.teacher_logp], rng)
    student = build("student", x.shape[1])
    student.band_mean.copy_(teacher.band_mean)
    student.band_std.copy_(teacher.band_std)

    loader = _Shuffled((torch.from_numpy(x), torch.from_numpy(hard), flat_targets(logp)),
                       cfg.batch_size, rng)
    opt, sched = _one_cycle(student.parameters(), cfg, cfg.student_epochs, len(x))

    def on_epoch(epoch: int, loss: float) -> None:
        logger.info("student epoch %d loss %.4f", epoch, loss)
        if progress:
            progress("distil student", epoch + 1, cfg.student_epochs)

    result = distill(pixel_flatten(teacher), pixel_flatten(student), loader, cfg.student_epochs,
                     T=cfg.T, alpha=cfg.alpha, task="classification", on_epoch=on_epoch,
                     optimizer=opt, scheduler=sched)
    return student.eval(), result


def flat_targets(logp: np.ndarray) -> Any:
    """(n, classes, h, w) → tensor (n, h·w, classes), pixels in PixelFlatten's order."""
    import torch

    n, c = logp.shape[:2]
    return torch.from_numpy(np.ascontiguousarray(logp.transpose(0, 2, 3, 1).reshape(n, -1, c)))


class _Shuffled:
    """Batches ``(x, hard labels flattened, teacher log-probs flattened)`` in a new random order
    every epoch. Crops arrive grouped by scene (and repeated); unshuffled batches of one scene
    give BatchNorm unrepresentative statistics and the student fails on everything else."""

    def __init__(self, arrays: tuple[Any, Any, Any], batch_size: int,
                 rng: np.random.Generator) -> None:
        self.x, self.hard, self.logp = arrays
        self.batch_size, self.rng = batch_size, rng

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Any:
        import torch

        order = torch.from_numpy(self.rng.permutation(len(self.x)))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield (self.x[idx], self.hard[idx].reshape(-1),
                   self.logp[idx].reshape(-1, self.logp.shape[-1]))


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
