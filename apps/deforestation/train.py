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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.deforestation.model import build, predict_probs, predict_probs_tta, set_normalisation
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
    teacher_tta: bool = False  # soft targets averaged over the 8 flips/turns of each scene


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
                    repeats: int = 1, tta: bool = False) -> DistilSet:
    """Teacher outputs on each WHOLE scene, cut into fully valid ``crop_px`` crops.

    ``labels`` (true per-pixel classes) feed the hard-label term where known; otherwise the
    teacher's argmax does. Each crop appears ``repeats`` times. ``tta`` averages the teacher's
    probabilities over the 8 flips/turns of the scene (:func:`model.predict_probs_tta`).
    """
    predict = predict_probs_tta if tta else predict_probs
    xs, hs, ts = [], [], []
    for i, (img, ok) in enumerate(zip(scenes, valid, strict=True)):
        logp = np.log(np.maximum(predict(teacher, np.nan_to_num(img)), 1e-6))
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
                    progress: Progress = None,
                    log: Callable[[str], None] | None = None) -> tuple[Any, Any]:
    """Distil the student (core.compress.distill, Hinton loss per pixel, one-cycle LR) on
    precomputed teacher outputs; returns (student, CompressionResult)."""
    import torch

    from core.compress import distill

    torch.manual_seed(cfg.seed + 1)
    rng = np.random.default_rng(cfg.seed + 1)
    student = build("student", data.images.shape[1])
    student.band_mean.copy_(teacher.band_mean)
    student.band_std.copy_(teacher.band_std)

    loader = _Shuffled((torch.from_numpy(data.images), torch.from_numpy(data.hard),
                        torch.from_numpy(data.teacher_logp)), cfg.batch_size, rng)
    opt, sched = _one_cycle(student.parameters(), cfg, cfg.student_epochs, len(data))

    def on_epoch(epoch: int, loss: float) -> None:
        logger.info("student epoch %d loss %.4f", epoch, loss)
        if log:
            log(f"student epoch {epoch + 1}/{cfg.student_epochs} loss {loss:.4f}")
        if progress:
            progress("distil student", epoch + 1, cfg.student_epochs)

    result = distill(pixel_flatten(teacher), pixel_flatten(student), loader, cfg.student_epochs,
                     T=cfg.T, alpha=cfg.alpha, task="classification", on_epoch=on_epoch,
                     optimizer=opt, scheduler=sched)
    return student.eval(), result


class _Shuffled:
    """Batches ``(x, hard labels flattened, teacher log-probs flattened)`` in a new random order
    every epoch, each batch turned by a random multiple of 90° and maybe flipped (land cover has no
    preferred orientation; the student sees every crop in new orientations across epochs). Crops
    arrive grouped by scene (and repeated); unshuffled batches of one scene give BatchNorm
    unrepresentative statistics and the student fails on everything else. Pixels are flattened in
    :func:`pixel_flatten`'s order."""

    def __init__(self, arrays: tuple[Any, Any, Any], batch_size: int,
                 rng: np.random.Generator) -> None:
        self.x, self.hard, self.logp = arrays  # (n, b, h, w), (n, h, w), (n, classes, h, w)
        self.batch_size, self.rng = batch_size, rng

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self) -> Any:
        import torch

        order = torch.from_numpy(self.rng.permutation(len(self.x)))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            k, flip = int(self.rng.integers(4)), bool(self.rng.random() < 0.5)
            x, hard, logp = (_turn(a[idx], k, flip) for a in (self.x, self.hard, self.logp))
            yield (x, hard.reshape(-1),
                   logp.permute(0, 2, 3, 1).reshape(-1, logp.shape[1]))


def _turn(a: Any, k: int, flip: bool) -> Any:
    """``a`` (…, h, w) flipped left-right if ``flip``, then turned ``k`` × 90°, contiguous."""
    if flip:
        a = a.flip(-1)
    return a.rot90(k, (-2, -1)).contiguous()


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


# -- the teacher on REAL labelled chips (plus simulated scenes for clouds and other sensors) ----

@dataclass(frozen=True)
class RealTeacherBudget:
    """Step budget of the real-chip teacher. Each step is one batch of ``batch_size`` random
    ``crop_px`` crops: ``batch_size - sim_per_batch`` from the real training chips and
    ``sim_per_batch`` from simulated scenes (clouds, Sentinel-2/Landsat-8 reflectance, which the
    real 8-bit chips lack). The final model is fixed in advance: the exponential moving average
    of the weights (``ema_decay``) at the last step, with BatchNorm statistics recomputed on
    ``bn_batches`` fresh training batches; no validation score picks an epoch."""

    steps: int = 1500
    batch_size: int = 8
    sim_per_batch: int = 2
    crop_px: int = 192
    lr: float = 2e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    ema_decay: float = 0.995
    bn_batches: int = 32
    sim_scenes: int = 48  # simulated pairs (both dates used) rendered at crop_px
    log_every: int = 25
    seed: int = 0


def _jitter(x: np.ndarray, rng: np.random.Generator, amount: float = 0.15) -> np.ndarray:
    """Brightness (×b) and contrast (around the crop's mean) jitter, one draw per crop."""
    b = rng.uniform(1 - amount, 1 + amount, (len(x), 1, 1, 1))
    c = rng.uniform(1 - amount, 1 + amount, (len(x), 1, 1, 1))
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    return ((x - m) * c + m) * b


def random_crops(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], n: int,
                 crop_px: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random crops (random image, random offset) with a random 90° turn and flip and
    brightness/contrast jitter; the same geometry is applied to image and labels."""
    xs, ys = [], []
    for _ in range(n):
        i = int(rng.integers(len(images)))
        img, lab = images[i], labels[i]
        r = int(rng.integers(img.shape[1] - crop_px + 1))
        c = int(rng.integers(img.shape[2] - crop_px + 1))
        xs.append(img[:, r:r + crop_px, c:c + crop_px])
        ys.append(lab[r:r + crop_px, c:c + crop_px])
    x, y = _augment([np.stack(xs), np.stack(ys)], rng)
    return _jitter(x, rng).astype(np.float32), y.astype(np.int64)


class MixedCrops:
    """Training batches of real chip crops plus simulated scene crops (see RealTeacherBudget)."""

    def __init__(self, real_images: Sequence[np.ndarray], real_masks: Sequence[np.ndarray],
                 budget: RealTeacherBudget) -> None:
        from apps.deforestation.simulate import simulate_pairs

        self.budget = budget
        self.real = (list(real_images), list(real_masks))
        pairs = simulate_pairs(budget.seed + 500, budget.sim_scenes, budget.crop_px) \
            if budget.sim_per_batch else []
        imgs, _valid, labels = sim_scenes(pairs)
        self.sim = (imgs, labels)

    def batch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        b = self.budget
        x, y = random_crops(*self.real, b.batch_size - b.sim_per_batch, b.crop_px, rng)
        if b.sim_per_batch:
            xs, ys = random_crops(*self.sim, b.sim_per_batch, b.crop_px, rng)
            x, y = np.concatenate([x, xs]), np.concatenate([y, ys])
        return x, y

    def band_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean/std over real and simulated images, weighted like a batch."""
        b = self.budget
        w_sim = b.sim_per_batch / b.batch_size
        stats = []
        for imgs in (self.real[0], self.sim[0]):
            a = np.stack(imgs) if imgs else np.zeros((1, 3, 1, 1), np.float32)
            stats.append((a.mean((0, 2, 3)), (a ** 2).mean((0, 2, 3))))
        mean = (1 - w_sim) * stats[0][0] + w_sim * stats[1][0]
        sq = (1 - w_sim) * stats[0][1] + w_sim * stats[1][1]
        return mean, np.sqrt(np.maximum(sq - mean ** 2, 1e-8))


def recompute_bn(model: Any, batches: Callable[[], np.ndarray], n: int) -> None:
    """Replace every BatchNorm's running statistics by their plain average over ``n`` batches
    (momentum None), computed with the final weights."""
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(n):
            model(torch.from_numpy(batches()))
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    model.eval()


def train_teacher_real(data: MixedCrops, progress: Progress = None,
                       log: Callable[[str], None] | None = None,
                       keep_raw: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train the U-Net/ResNet-18 teacher on mixed real/simulated crops (AdamW, one-cycle LR,
    EMA of weights, BatchNorm recomputed at the end); returns (EMA model, history).
    ``keep_raw`` (a dict) receives the plain last-step model under ``"raw"``."""
    import copy
    import time

    import torch

    b = data.budget
    torch.manual_seed(b.seed)
    rng = np.random.default_rng(b.seed)
    model = build("teacher", 3)
    set_normalisation(model, *data.band_stats())
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=b.lr, weight_decay=b.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=b.lr, total_steps=b.steps)
    history: dict[str, Any] = {"loss_per_block": [], "steps_per_block": b.log_every}
    total, count, t0 = 0.0, 0, time.perf_counter()
    for step in range(1, b.steps + 1):
        model.train()
        x, y = data.batch(rng)
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)),
                                                 torch.from_numpy(y), ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            d = min(b.ema_decay, (1 + step) / (10 + step))  # short warm-up of the average
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        total, count = total + float(loss.detach()), count + 1
        if step % b.log_every == 0 or step == b.steps:
            history["loss_per_block"].append(total / count)
            msg = (f"teacher step {step}/{b.steps} loss {total / count:.4f} "
                   f"lr {sched.get_last_lr()[0]:.2e} {time.perf_counter() - t0:.0f} s")
            logger.info(msg)
            if log:
                log(msg)
            if progress:
                progress("train teacher", step, b.steps)
            total, count = 0.0, 0
    bn_rng = np.random.default_rng(b.seed + 7)
    recompute_bn(ema, lambda: data.batch(bn_rng)[0], b.bn_batches)
    history["wall_s"] = time.perf_counter() - t0
    if keep_raw is not None:  # the plain last-step weights, for comparisons only
        keep_raw["raw"] = model.eval()
    return ema, history
