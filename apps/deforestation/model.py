"""The teacher (U-Net on a torchvision ResNet-18 encoder) and the distilled student CNN.

Both map (batch, bands, h, w) reflectance to (batch, 3, h, w) logits for non-forest / forest /
cloud. Input normalisation is stored in the model (buffers), so a saved state_dict is complete.
torch is imported inside functions so ``import apps.deforestation`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelError

N_CLASSES = 3
TEACHER_STRIDE = 32  # ResNet-18 downsamples 5 times
STUDENT_STRIDE = 16  # input padded to a multiple of this (four stride-2 stages)


def _norm_buffers(module: Any, in_bands: int) -> None:
    import torch

    module.register_buffer("band_mean", torch.full((1, in_bands, 1, 1), 0.1))
    module.register_buffer("band_std", torch.full((1, in_bands, 1, 1), 0.1))


def build_teacher(in_bands: int) -> Any:
    """U-Net whose encoder is torchvision's ResNet-18 (weights=None), first conv → ``in_bands``."""
    import torch
    from torch import nn
    from torchvision.models import resnet18

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class UNetResNet18(nn.Module):
        stride = TEACHER_STRIDE

        def __init__(self) -> None:
            super().__init__()
            r = resnet18(weights=None)
            r.conv1 = nn.Conv2d(in_bands, 64, 7, 2, 3, bias=False)
            self.stem = nn.Sequential(r.conv1, r.bn1, r.relu)  # /2, 64
            self.enc = nn.ModuleList([nn.Sequential(r.maxpool, r.layer1), r.layer2, r.layer3,
                                      r.layer4])  # /4 64, /8 128, /16 256, /32 512
            self.dec = nn.ModuleList([block(512 + 256, 128), block(128 + 128, 64),
                                      block(64 + 64, 48), block(48 + 64, 32), block(32, 16)])
            self.head = nn.Conv2d(16, N_CLASSES, 1)
            _norm_buffers(self, in_bands)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.band_mean) / self.band_std
            skips = [self.stem(x)]
            for enc in self.enc:
                skips.append(enc(skips[-1]))
            y = skips.pop()
            for dec in self.dec[:4]:
                y = nn.functional.interpolate(y, scale_factor=2.0, mode="nearest")
                y = dec(torch.cat([y, skips.pop()], 1))
            y = nn.functional.interpolate(y, scale_factor=2.0, mode="nearest")
            return self.head(self.dec[4](y))

    return UNetResNet18()


def build_student(in_bands: int) -> Any:
    """A small encoder–decoder: context from stages at 1/4, 1/8 and 1/16 resolution, decoded to
    1/4, fused at 1/2 with the first convolution's features by a 1×1 convolution, logits
    upsampled ×2 bilinearly.

    Why this shape: the gate times whole 512-px chips at one thread, where full- and half-resolution
    3×3 convolutions cost memory traffic far beyond their arithmetic (the earlier stride-4 U-Net
    with a full-resolution branch missed the 5× row). Context comes cheaply from the 1/8 and 1/16
    stages; the 1×1 fusion at 1/2 keeps edges finer than logits at 1/4 for little cost; the 1/4
    stage is 48 channels wide because 32 failed the gate's forest-share < 1/3 slice
    (docs/deforestation.md, *How the student was chosen*).
    """
    import torch
    from torch import nn

    def conv(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class FastSegNet(nn.Module):
        stride = STUDENT_STRIDE

        def __init__(self) -> None:
            super().__init__()
            self.half_res = conv(in_bands, 16, 2)
            self.quarter = nn.Sequential(conv(16, 48, 2), conv(48, 48))
            self.eighth = nn.Sequential(conv(48, 64, 2), conv(64, 64))
            self.sixteenth = nn.Sequential(conv(64, 96, 2), conv(96, 96), conv(96, 96))
            self.up8 = conv(96 + 64, 64)
            self.up4 = conv(64 + 48, 32)
            self.to_half = nn.Conv2d(32, 16, 1)
            self.up2 = conv(16 + 16, 16, k=1)
            self.head = nn.Conv2d(16, N_CLASSES, 1)
            _norm_buffers(self, in_bands)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            F = nn.functional

            def up(t: torch.Tensor) -> torch.Tensor:
                return F.interpolate(t, scale_factor=2.0, mode="nearest")

            x = (x - self.band_mean) / self.band_std
            h = self.half_res(x)
            q = self.quarter(h)
            e = self.eighth(q)
            y = self.up8(torch.cat([up(self.sixteenth(e)), e], 1))
            y = self.up4(torch.cat([up(y), q], 1))
            y = self.up2(torch.cat([up(self.to_half(y)), h], 1))
            return F.interpolate(self.head(y), scale_factor=2.0, mode="bilinear",
                                 align_corners=False)

    return FastSegNet()


def build(kind: str, in_bands: int) -> Any:
    """``"teacher"`` or ``"student"``."""
    if kind == "teacher":
        return build_teacher(in_bands)
    if kind == "student":
        return build_student(in_bands)
    raise ModelError(f"unknown model kind {kind!r}; use 'teacher' or 'student'")


def n_params(model: Any) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())


def set_normalisation(model: Any, mean: np.ndarray, std: np.ndarray) -> None:
    """Store per-band input mean/std (reflectance units) in the model."""
    import torch

    model.band_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
    model.band_std.copy_(torch.as_tensor(np.maximum(std, 1e-3), dtype=torch.float32)
                         .view(1, -1, 1, 1))


def predict_probs(model: Any, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities (n, 3, h, w) for images (n, bands, h, w) or (bands, h, w).

    The input is zero-padded at the bottom/right to a multiple of the model's stride and the
    output cropped back, so any size works and a window at the image edge is padded exactly like
    the whole image.
    """
    import torch

    single = images.ndim == 3
    x = torch.from_numpy(np.ascontiguousarray(images[None] if single else images))
    h, w = x.shape[-2:]
    s = model.stride
    x = torch.nn.functional.pad(x, (0, (-w) % s, 0, (-h) % s))
    with torch.inference_mode():
        p = torch.softmax(model(x), 1)[..., :h, :w].numpy()
    return p[0] if single else p


def predict_probs_tta(model: Any, image: np.ndarray) -> np.ndarray:
    """Probabilities (3, h, w) for one image (bands, h, w), averaged over its 8 flips and 90°
    turns (each prediction turned back first): test-time augmentation for soft targets."""
    total = np.zeros((N_CLASSES, *image.shape[1:]), np.float64)
    for flip in (False, True):
        img = image[..., ::-1] if flip else image
        for k in range(4):
            p = np.rot90(predict_probs(model, np.rot90(img, k, (1, 2))), -k, (1, 2))
            total += p[..., ::-1] if flip else p
    return (total / 8).astype(np.float32)


def save(model: Any, path: Path) -> Path:
    """state_dict to ``path`` (a build output, never committed)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def load(kind: str, in_bands: int, path: Path) -> Any:
    """Rebuild a model and load its weights; ModelError if missing or incompatible."""
    import torch

    if not Path(path).exists():
        raise ModelError(f"{path}: model weights missing; run `greenstack run deforestation`")
    model = build(kind, in_bands)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot load {kind} weights ({e}); retrain with --force") from e
    return model.eval()
