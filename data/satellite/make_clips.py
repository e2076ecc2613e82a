"""Re-create the clips in this folder from ../shared/data/satellite (values copied unchanged).

Run from the repository root: ``.venv/bin/python data/satellite/make_clips.py``. Each clip is a
rasterio window of the original (no resampling); GeoTIFFs are written LZW-compressed (lossless),
the JP2 clip with the reversible (lossless) OpenJPEG 5/3 wavelet.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window, from_bounds

SRC = Path(__file__).resolve().parents[3] / "shared" / "data" / "satellite"
DST = Path(__file__).resolve().parent


def clip(src_path: Path, dst_path: Path, window: Window, **extra: object) -> None:
    with rasterio.open(src_path) as src:
        data = src.read(window=window)
        profile = src.profile.copy()
        profile.update(width=window.width, height=window.height,
                       transform=src.window_transform(window), **extra)
        if profile["driver"] == "GTiff":
            profile.update(compress="lzw")
    dst_path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(data)
    with rasterio.open(dst_path) as check:  # values must survive the round trip unchanged
        if not np.array_equal(check.read(), data):
            raise SystemExit(f"{dst_path}: values changed on write")


def clip_by_bounds(src_path: Path, dst_path: Path, bounds: tuple[float, ...], **extra: object):
    with rasterio.open(src_path) as src:
        win = from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
    clip(src_path, dst_path, win, **extra)


def oscd(city: str, col: int, row: int, size: int) -> None:
    for date in ("imgs_1", "imgs_2"):
        folder = SRC / "oscd_brazil" / city / date
        ref = next(folder.glob("*_B02.tif"))
        with rasterio.open(ref) as src:
            bounds = rasterio.windows.bounds(Window(col, row, size, size), src.transform)
        for band in sorted(folder.glob("*.tif")):
            clip_by_bounds(band, DST / f"oscd_{city}" / date / band.name, bounds)
    shutil.copy(SRC / "oscd_brazil" / city / "dates.txt", DST / f"oscd_{city}" / "dates.txt")


def distillation_clips() -> None:
    """Real unlabelled clips for distillation only, disjoint from the clips the gate scores.

    The gate measures student–teacher agreement on the OSCD Águas Claras, Landsat-8 and Berlin
    clips above; the student learns the teacher's outputs on these other places (and one more
    sensor), so that agreement is measured on pixels the student never saw.
    """
    for date in ("imgs_1", "imgs_2"):  # Brasília: another OSCD city; visible bands only
        folder = SRC / "oscd_brazil" / "brasilia" / date
        for band in ("B02", "B03", "B04"):
            src = next(folder.glob(f"*_{band}.tif"))
            clip(src, DST / "distil" / "oscd_brasilia" / date / src.name, Window(40, 24, 384, 384))
    shutil.copy(SRC / "oscd_brazil" / "brasilia" / "dates.txt",
                DST / "distil" / "oscd_brasilia" / "dates.txt")
    l8 = SRC / "landsat8_iguacu" / "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
    for col, row in ((1280, 768), (256, 512), (1536, 1536)):  # none overlaps col 640/row 1280
        clip(l8, DST / "distil" / "landsat8_iguacu" / f"iguacu_c{col}_r{row}.tif",
             Window(col, row, 256, 256))
    berlin = SRC / "sentinel2_berlin" / "IMG_DATA"
    for col, row in ((100, 100), (1100, 400)):  # none overlaps the 120-px clip at 600/300
        for band in ("B02", "B03", "B04"):
            name = f"T33UUU_20170216T102101_{band}.jp2"
            clip(berlin / name, DST / "distil" / f"sentinel2_berlin_c{col}_r{row}" / name,
                 Window(col, row, 256, 256), QUALITY=100, REVERSIBLE="YES")
    clip(SRC / "landsat7_rgb_bahamas" / "RGB.byte.tif",
         DST / "distil" / "landsat7_bahamas" / "rgb_clip.tif", Window(300, 250, 256, 256))


def main() -> None:
    oscd("aguasclaras", col=160, row=120, size=256)
    l8 = "LC08_L1TP_224078_20200518_20200518_01_RT.TIF"
    clip(SRC / "landsat8_iguacu" / l8, DST / "landsat8_iguacu" / "iguacu_clip.tif",
         Window(640, 1280, 256, 256))
    for name in ("fcc23.tif", "emissions/AGB.tif"):
        out = DST / "guadeloupe" / Path(name).name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SRC / "forestatrisk_guadeloupe" / name, out)
    for tif in (SRC / "prodes_rondonia").glob("*.tif"):
        (DST / "prodes_rondonia").mkdir(parents=True, exist_ok=True)
        shutil.copy(tif, DST / "prodes_rondonia" / tif.name)
    berlin = SRC / "sentinel2_berlin" / "IMG_DATA"
    with rasterio.open(berlin / "T33UUU_20170216T102101_B02.jp2") as src:
        bounds = rasterio.windows.bounds(Window(600, 300, 120, 120), src.transform)
    for band in ("B02", "B03", "B04", "B08", "B11", "B01"):
        name = f"T33UUU_20170216T102101_{band}.jp2"
        clip_by_bounds(berlin / name, DST / "sentinel2_berlin" / name, bounds,
                       QUALITY=100, REVERSIBLE="YES")
    distillation_clips()


if __name__ == "__main__":
    main()
