"""Tiny real models and data shared by the gate tests (no mocks of the gate)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.compress import distill, model_size_bytes
from core.gates import Candidate, torch_predictor


def blobs(n: int, n_classes: int = 4, dim: int = 32, seed: int = 0, rare: int | None = None):
    """Well-separated Gaussian blobs; class ``rare`` (if given) has 1/10 of the rows of others."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4.0, (n_classes, dim))
    weights = np.ones(n_classes)
    if rare is not None:
        weights[rare] = 0.1
    y = rng.choice(n_classes, size=n, p=weights / weights.sum())
    X = centers[y] + rng.normal(0, 1.0, (n, dim))
    return X.astype(np.float32), y.astype(np.int64)


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int = 8, lr: float = 1e-2):
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        for i in range(0, len(X), 128):
            loss = nn.functional.cross_entropy(model(Xt[i : i + 128]), yt[i : i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def mlp(dim: int, hidden: int, n_classes: int, layers: int = 2) -> nn.Module:
    torch.manual_seed(0)
    mods: list[nn.Module] = [nn.Linear(dim, hidden), nn.ReLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(hidden, n_classes))


def distilled_student(teacher: nn.Module, X: np.ndarray, y: np.ndarray, hidden: int = 16):
    student = mlp(X.shape[1], hidden, int(y.max()) + 1, layers=1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batches = [(Xt[i : i + 128], yt[i : i + 128]) for i in range(0, len(X), 128)]
    return distill(teacher, student, batches, epochs=8, T=2.0, alpha=0.5, lr=1e-2).model


class WeightOnlyInt8Linear(nn.Module):
    """int8 weights + per-row scale on disk, dequantised to float32 on every forward.

    A real storage format (weight-only quantisation without int8 kernels): the checkpoint is ~4×
    smaller but the matmul is the same float32 matmul plus the dequantisation, so never faster.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach()
        scale = w.abs().amax(dim=1, keepdim=True).clamp_min(1e-8) / 127.0
        self.register_buffer("w_int8", torch.round(w / scale).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.w_int8.float() * self.scale, self.bias)


def weight_only_int8(model: nn.Sequential) -> nn.Sequential:
    return nn.Sequential(*[WeightOnlyInt8Linear(m) if isinstance(m, nn.Linear) else m
                           for m in model]).eval()


def as_candidate(name: str, model: nn.Module, **kw) -> Candidate:
    return Candidate(name=name, predict=torch_predictor(model, lambda z: z.argmax(1)),
                     size_bytes=model_size_bytes(model), **kw)


def accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
