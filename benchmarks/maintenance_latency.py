"""Reference (GBM) vs compact (MLP) RUL model: latency and energy per prediction, side by side.

Run after `greenstack run maintenance` (reads models/maintenance/):

    .venv/bin/python benchmarks/maintenance_latency.py [--subset FD001] [--models-dir models]

Prints, for batch sizes 1 and 32 (1 thread, interleaved repeats, warm-up excluded, via
core.gates.benchmark_pair): median seconds and joules per prediction and the ratio. Then the
end-to-end time for one engine (feature extraction + model), where the shared feature step
dilutes the model speedup. Energy is whatever core.energy measures here (its method is printed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", default="FD001")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)

    import torch

    from apps.maintenance.data import cmapss_dir, load_cmapss
    from apps.maintenance.model import clip_rul
    from apps.maintenance.serving import artifact_names
    from apps.maintenance.train import load_bundle, load_compact
    from core.compress import model_size_bytes
    from core.energy import Meter
    from core.gates import BenchmarkConfig, Candidate, benchmark_pair

    torch.set_num_threads(1)
    names = artifact_names(args.subset)
    folder = args.models_dir / "maintenance"
    bundle = load_bundle(folder / names["reference"])
    net = load_compact(folder / names["compact"])
    data = load_cmapss(cmapss_dir(args.data_dir), args.subset)
    _, feats = bundle.pipeline.last_window_features(data.test)
    X = feats.to_numpy()
    ref = Candidate("gbm-reference", lambda x: clip_rul(bundle.reference.predict(x), 125),
                    model_size_bytes(bundle.reference))
    cand = Candidate("mlp-compact", lambda x: clip_rul(net.predict(x), 125), model_size_bytes(net))
    meter = Meter()
    print(f"{args.subset}: {len(X)} test engines, {X.shape[1]} features; sizes "
          f"{ref.size_bytes} vs {cand.size_bytes} bytes ({ref.size_bytes / cand.size_bytes:.0f}×)")
    print(f"{'batch':>5} {'ref s/pred':>12} {'compact s/pred':>15} {'speedup':>8} "
          f"{'ref J/pred':>11} {'compact J/pred':>15} {'method':>10}")
    for batch in (1, 32):
        cfg = BenchmarkConfig(batch_size=batch, threads=1, warmup=3, repeats=args.repeats)
        s = benchmark_pair(ref, cand, X, cfg, meter)
        r, c = s.reference, s.candidate
        print(f"{batch:>5} {r.median_s_per_unit:>12.2e} {c.median_s_per_unit:>15.2e} "
              f"{s.speedup:>7.1f}× {r.j_per_unit or float('nan'):>11.2e} "
              f"{c.j_per_unit or float('nan'):>15.2e} {r.energy_method or '-':>10}")
    engine = data.test[data.test["unit"] == data.test["unit"].iloc[0]]
    for name, fn in (("gbm-reference", bundle.reference.predict), ("mlp-compact", net.predict)):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn(bundle.pipeline.last_window_features(engine)[1].to_numpy())
            times.append(time.perf_counter() - t0)
        print(f"end-to-end one engine (features + {name}): {np.median(times) * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
