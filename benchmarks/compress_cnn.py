"""Compress a small CNN three ways (+ optionally an fp16 trap) and gate each against the reference.

Task: scikit-learn's bundled handwritten digits (UCI ML, 1,797 real 8×8 scans), upsampled to
32×32 so the convolutions carry real work; eval slices are every class plus an
out-of-distribution slice (the same eval digits with Gaussian pixel noise, σ = 0.3).

    nice .venv/bin/python benchmarks/compress_cnn.py [--repeats 15] [--batch-size 32] [--fp16-trap]

Prints one table: metric, worst slice, speedup ± spread (IQR of paired interleaved passes),
J/unit (core.energy Meter; method printed), size, verdict. Single thread, CPU.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np


def load_digits_32(seed: int = 0):
    import torch
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    x = torch.from_numpy((X / 16.0).astype(np.float32)).view(-1, 1, 8, 8)
    x = torch.nn.functional.interpolate(x, size=32, mode="bilinear", align_corners=False)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y = x[order].numpy(), y[order].astype(np.int64)
    n_train = 1200
    Xe, ye = x[n_train:], y[n_train:]
    noisy = np.clip(Xe + rng.normal(0, 0.3, Xe.shape).astype(np.float32), 0, 1)
    return x[:n_train], y[:n_train], np.concatenate([Xe, noisy]), np.concatenate([ye, ye]), len(Xe)


def cnn(width: int = 32):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 64, 10),
    )


def batches(X, y, size: int = 64, noise: float = 0.3, seed: int = 0):
    """Training batches with noise augmentation (half of each batch noised)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    out = []
    for i in range(0, len(X), size):
        xb = xt[i : i + size].clone()
        half = len(xb) // 2
        xb[:half] = (xb[:half] + noise * torch.randn(xb[:half].shape, generator=g)).clamp(0, 1)
        out.append((xb, yt[i : i + size]))
    return out


def train(model, data, epochs: int, lr: float = 3e-3):
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for xb, yb in data:
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def accuracy(y_true, y_pred) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def build_candidates(teacher, Xtr, ytr, data, meter, fp16_trap: bool):
    """The three compressions (+ optional fp16), each run inside a meter window."""
    import torch

    from core.compress import (
        cast_half,
        distill,
        prune_structured,
        quantize_static_int8,
        run_compression,
    )

    calib = [torch.from_numpy(Xtr[i : i + 64]) for i in range(0, 512, 64)]
    example = torch.from_numpy(Xtr[:2])
    steps = {
        "static-int8 (FX)": lambda: quantize_static_int8(teacher, calib),
        "pruned-50% +ft": lambda: prune_structured(
            teacher, example, ratio=0.5, fine_tune=lambda m: train(m, data, epochs=2, lr=1e-3)),
        "distilled w8": lambda: distill(teacher, cnn(width=8), data, epochs=6, T=4.0, alpha=0.7,
                                        lr=3e-3),
    }
    if fp16_trap:  # half the bytes, ~50× slower on CPUs without fp16 conv kernels (minutes)
        steps["float16 (trap)"] = lambda: cast_half(teacher, "float16")
    return {name: run_compression(step, meter=meter, app="benchmark", run_id="compress_cnn",
                                  name=f"compress:{name}") for name, step in steps.items()}


def row(name: str, report) -> str:
    worst = report.worst_slice
    sp = report.speed
    speed = f"{sp.speedup:5.2f}× ({sp.speedup_p25:.2f}–{sp.speedup_p75:.2f})" if sp else "n/a"
    jpu = sp.candidate.j_per_unit if sp else None
    j = f"{jpu * 1e3:7.3f} mJ" if jpu is not None else "   n/a"
    return (f"{name:<18} {report.overall.candidate:6.3f}  {worst.slice:<10} {worst.candidate:6.3f}"
            f"  {speed:<22} {j}  {report.candidate_size_bytes / 1e3:8.1f} kB  {report.verdict}"
            + ("" if report.passed else "  ← " + "; ".join(r.split(":")[0] for r in report.reasons)))


def main(argv: list[str] | None = None) -> int:
    import torch

    from core.compress import model_size_bytes
    from core.energy import Meter
    from core.gates import BenchmarkConfig, Candidate, EvalSet, GateSpec, evaluate_gate
    from core.gates import torch_predictor as tp

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--fp16-trap", action="store_true",
                   help="also gate an fp16 cast (smaller, not faster on most CPUs; slow to time)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    Xtr, ytr, Xe, ye, n_clean = load_digits_32()
    data = batches(Xtr, ytr)
    t0 = time.perf_counter()
    teacher = train(cnn(32), data, epochs=args.epochs)
    meter = Meter()
    cands = build_candidates(teacher, Xtr, ytr, data, meter, args.fp16_trap)
    ood = np.arange(len(ye)) >= n_clean
    eval_set = EvalSet("digits32+noise", Xe, ye, slices={"ood_noise": ood, "class": ye})
    spec = GateSpec(metric="accuracy", metric_fn=accuracy, higher_is_better=True, max_drop=0.02,
                    max_slice_drop=0.05, min_speedup=1.5, max_size_ratio=0.6)
    bench = BenchmarkConfig(batch_size=args.batch_size, threads=1, warmup=3,
                            repeats=args.repeats, max_units=256)
    ref = Candidate("reference", tp(teacher, lambda z: z.argmax(1)), model_size_bytes(teacher))
    header = (f"{'model':<18} {'acc':>6}  {'worst slice':<10} {'acc':>6}  "
              f"{'speedup (IQR)':<22} {'J/unit':>10}  {'size':>11}  verdict")
    lines = []
    for name, res in cands.items():
        cand = Candidate(name, tp(res.model, lambda z: z.argmax(1)), res.size_bytes_after)
        report = evaluate_gate(ref, cand, eval_set, spec, bench=bench, meter=meter)
        if not lines:
            rj = report.speed.reference.j_per_unit if report.speed else None
            rjs = f"{rj * 1e3:7.3f} mJ" if rj is not None else "   n/a"
            worst_ref = min(report.slices, key=lambda s: s.reference)
            lines.append(f"{'reference':<18} {report.overall.reference:6.3f}  "
                         f"{worst_ref.slice:<10} {worst_ref.reference:6.3f}  {'1.00×':<22} {rjs}"
                         f"  {report.reference_size_bytes / 1e3:8.1f} kB  —")
        lines.append(row(name, report))
    energy_method = report.energy.method if report.energy else "none"
    print(f"eval set {eval_set.name} v{eval_set.version[:12]} ({len(eval_set)} units, "
          f"{len(eval_set.slices)} slices); batch {bench.batch_size}, 1 thread, "
          f"{bench.repeats} interleaved repeats after {bench.warmup} warm-up; "
          f"J/unit method: {energy_method}; torch {torch.__version__}")
    print(header)
    print("\n".join(lines))
    print("worst slice = the slice with the largest drop vs the reference (lowest acc for ref); "
          f"spec: drop ≤ {spec.max_drop}, slice drop ≤ {spec.max_slice_drop}, "
          f"speedup ≥ {spec.min_speedup}×, size ≤ {spec.max_size_ratio}×; "
          f"total {time.perf_counter() - t0:.0f} s")
    for name, res in cands.items():
        m = res.measurement
        if m is not None:
            print(f"compress {name}: {m.energy_j:.2f} J ({m.method}, {m.wall_s:.1f} s); "
                  f"report keys {sorted(res.report)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
