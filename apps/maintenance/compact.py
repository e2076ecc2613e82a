"""Compact RUL model: a small MLP distilled from the gradient-boosting reference.

Imports torch at module level: import this module only inside functions that train or serve it.
The feature scaler and output scale are registered buffers, so ``state_dict`` (and therefore the
size the gate compares) holds everything needed to predict.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from torch import nn

from core.compress import CompressionResult, hinton_loss, model_size_bytes

logger = logging.getLogger(__name__)

# Chosen on held-out training engines of FD001/FD003 (not the test set): (64, 32) with mostly
# soft targets was steadier across seeds than (32, 16) with alpha 0.5.
HIDDEN = (64, 32)  # units per hidden layer; ~8.5k parameters on FD001's 99 features
EPOCHS = 60
CHECK_EVERY = 5  # epochs between validation checks (best checkpoint is kept)
BATCH = 256
LR = 3e-3
ALPHA = 0.9  # weight of the teacher (soft) target vs the true RUL in the regression KD loss


class CompactRulNet(nn.Module):
    """Standardise → MLP → scale to cycles. Input: (n, features) float32; output (n,) cycles."""

    mean: torch.Tensor
    std: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int, mean: np.ndarray, std: np.ndarray, scale_cycles: float):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(float(scale_cycles)))
        layers: list[nn.Module] = []
        width = n_features
        for hidden in HIDDEN:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1) * self.scale

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Numpy in, numpy out [cycles]; no autograd."""
        with torch.inference_mode():
            return self(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()


def _val_rmse(net: CompactRulNet, validation: tuple[np.ndarray, np.ndarray]) -> float:
    net.eval()
    pred = net.predict(validation[0])
    net.train()
    return float(np.sqrt(np.mean((np.clip(pred, 0, None) - validation[1]) ** 2)))


def distill_compact(
    teacher: object,
    X: np.ndarray,
    y: np.ndarray,
    teacher_pred: np.ndarray,
    seed: int,
    scale_cycles: float,
    epochs: int = EPOCHS,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> CompressionResult:
    """Train a :class:`CompactRulNet` on ``X`` with the Hinton regression loss.

    ``teacher_pred`` are the reference's predictions on ``X`` (precomputed once: the teacher is a
    tree ensemble, not a torch module). Loss = α·MSE(student, teacher) + (1−α)·MSE(student, y).
    ``validation`` = (X, y [cycles]) of held-out engines: every ``CHECK_EVERY`` epochs the RMSE
    there is measured and the best checkpoint is kept (early stopping by engine, not by row).
    """
    torch.manual_seed(seed)
    X = np.asarray(X, dtype=np.float32)
    net = CompactRulNet(X.shape[1], X.mean(axis=0), X.std(axis=0) + 1e-6, scale_cycles)
    xs = torch.from_numpy(X)
    ys = torch.as_tensor(np.asarray(y, np.float32) / scale_cycles)
    ts = torch.as_tensor(np.asarray(teacher_pred, np.float32) / scale_cycles)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    best: tuple[float, int, dict] | None = None
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xs), generator=gen)
        total = 0.0
        for start in range(0, len(xs), BATCH):
            idx = perm[start : start + BATCH]
            out = net.net((xs[idx] - net.mean) / net.std).squeeze(-1)
            loss = hinton_loss(out, ts[idx], ys[idx], alpha=ALPHA, task="regression")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        losses.append(total / len(xs))
        if validation is not None and ((epoch + 1) % CHECK_EVERY == 0 or epoch + 1 == epochs):
            rmse = _val_rmse(net, validation)
            if best is None or rmse < best[0]:
                best = (rmse, epoch + 1, copy.deepcopy(net.state_dict()))
    if best is not None:
        net.load_state_dict(best[2])
    net.eval()
    return CompressionResult(
        model=net,
        kind="distilled",
        size_bytes_before=model_size_bytes(teacher),
        size_bytes_after=model_size_bytes(net),
        report={
            "student": f"MLP {X.shape[1]}-{'-'.join(map(str, HIDDEN))}-1 (ReLU)",
            "teacher": type(teacher).__name__,
            "loss": "hinton regression: alpha*MSE(student,teacher)+(1-alpha)*MSE(student,y)",
            "alpha": ALPHA, "epochs": epochs, "final_loss": losses[-1],
            "best_epoch_on_holdout": best[1] if best else None,
            "holdout_rmse_cycles": best[0] if best else None,
            "parameters": int(sum(p.numel() for p in net.parameters())),
        },
    )
