"""Deforestation throughput: megapixels/s per core (teacher vs student) and Dask 1 vs 2 workers.

Run after `greenstack run deforestation` (it needs models/deforestation/{teacher,student}.pt):

    .venv/bin/python benchmarks/deforestation_throughput.py [--repeats 5] [--scene PATH]

Model-only: predict_probs on the real OSCD 2015 scene (256×256, 3 bands), 1 torch thread, 1 warm-up
pass, median of repeats. End-to-end: whole batch jobs (read → predict both dates → blend → MMU →
COG) through a Dask LocalCluster. Scaling: the same job with 1 and 2 single-threaded workers on the
full Landsat-8 Iguaçu scene when ../shared/data is present, else on the shipped clip. All inputs
are REAL rasters; the machine's other load is not controlled — compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _median_s(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def model_only(models: Path, repeats: int) -> dict[str, float]:
    import torch

    from apps.deforestation.model import load, predict_probs
    from apps.deforestation.steps import real_sources

    torch.set_num_threads(1)
    scene = real_sources(ROOT / "data")["oscd_aguasclaras_2015"].read()
    mp = scene.data.shape[1] * scene.data.shape[2] / 1e6
    out = {}
    for kind in ("teacher", "student"):
        model = load(kind, 3, models / f"{kind}.pt")
        out[kind] = mp / _median_s(lambda m=model: predict_probs(m, scene.data), repeats)
    return out


def job_tiles_per_s(before, after, weights: Path, kind: str, workers: int, tile_px: int,
                    repeats: int) -> float:
    from distributed import Client, LocalCluster

    from apps.deforestation.batch import JobSpec, ModelSpec, run_job

    rates = []
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for _ in range(repeats):
            out = Path(tempfile.mkdtemp(prefix="gs-bench-"))
            spec = JobSpec(before, after, out, ModelSpec(kind, weights, 3), tile_px=tile_px)
            res = run_job(spec, client=client)
            rates.append(res.tiles_total / res.wall_s)
            shutil.rmtree(out, ignore_errors=True)
    return statistics.median(rates)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", type=Path, default=ROOT / "models" / "deforestation")
    ap.add_argument("--scene", type=Path, default=None, help="multi-band raster for scaling")
    args = ap.parse_args()
    from apps.deforestation.rasters import RasterSource
    from apps.deforestation.steps import real_sources

    if not (args.models / "student.pt").exists():
        print("no weights: run `greenstack run deforestation` first", file=sys.stderr)
        return 2
    mps = model_only(args.models, args.repeats)
    print("model-only, 1 thread, real OSCD 256×256 scene (megapixels/s per core):")
    print(f"  teacher {mps['teacher']:.3f}  student {mps['student']:.3f}  "
          f"ratio {mps['student'] / mps['teacher']:.2f}×")
    real = real_sources(ROOT / "data")
    b, a = real["oscd_aguasclaras_2015"], real["oscd_aguasclaras_2017"]
    e2e = {k: job_tiles_per_s(b, a, args.models / f"{k}.pt", k, 1, 128, max(args.repeats // 2, 1))
           for k in ("teacher", "student")}
    print("end-to-end batch job, 1 worker × 1 thread, OSCD pair, 128-px tiles (tiles/s):")
    print(f"  teacher {e2e['teacher']:.2f}  student {e2e['student']:.2f}  "
          f"ratio {e2e['student'] / e2e['teacher']:.2f}×")
    full = ROOT.parent / "shared/data/satellite/landsat8_iguacu"
    scene = args.scene or next(full.glob("*.TIF"), None) or (
        ROOT / "data/satellite/landsat8_iguacu/iguacu_clip.tif")
    src = RasterSource(scene, "landsat8_bgr")
    tile = 256 if src.width > 1000 else 64
    rate = {w: job_tiles_per_s(src, src, args.models / "student.pt", "student", w, tile, 1)
            for w in (1, 2)}
    mp_tile = tile * tile / 1e6
    print(f"Dask scaling, student, {scene.name} {src.width}×{src.height}, {tile}-px tiles:")
    for w, r in rate.items():
        print(f"  {w} worker(s): {r:.2f} tiles/s = {r * mp_tile:.3f} MP/s "
              f"({r * mp_tile / w:.3f} MP/s per core)")
    print(f"  2 vs 1 workers: {rate[2] / rate[1]:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
