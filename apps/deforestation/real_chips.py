"""The REAL labelled chips: 30 Sentinel-2 true-colour chips of the Amazon with forest masks.

Bragagnolo, da Silva, Grzybowski 2019, "Amazon Rainforest dataset for semantic segmentation",
Zenodo, doi:10.5281/zenodo.3233081 (the training part, as used by John & Zhang 2022,
Int. J. Appl. Earth Obs. Geoinf. 107:102685). See ``data/satellite/amazon_forest/PROVENANCE.md``.

A declarative dataset (torchgeo style): the class attributes say where the files are, how an
image and its mask are named, which sensor reads the image and how mask values map to classes;
``AmazonForestChips(data_dir, split)`` is then a sized, indexable collection of :class:`Chip`.

Bands: the chips are 8-bit RGB display values (file order red, green, blue). They are read with
the ``rgb8`` sensor, which reorders them to the model's ``MODEL_BANDS`` (blue, green, red) and
scales by 1/255 — display values, not reflectance. Multi-band sensors (Sentinel-2, Landsat-8)
deliver the same three bands as reflectance; the simulator renders all three kinds, so the models
learn both scales (docs/deforestation.md, "Bands").

The train/validation split is by chip, fixed in ``split.json`` next to the chips and re-derivable
from the rule in :func:`derive_split` (a test checks both agree): the chips are sorted by forest
share, cut into ``n_val`` consecutive strata, and a seeded generator picks one chip per stratum.
No model result enters the rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from apps.deforestation.rasters import RasterSource, _open
from apps.deforestation.simulate import FOREST, NONFOREST
from core.errors import DataError

CITATION = ("Bragagnolo, da Silva, Grzybowski 2019, Amazon Rainforest dataset for semantic "
            "segmentation, Zenodo, doi:10.5281/zenodo.3233081; John & Zhang 2022, IJAEOG "
            "107:102685")
SPLITS = ("train", "val", "all")


@dataclass(frozen=True)
class Chip:
    """One labelled chip: image (3, h, w) float32 in MODEL_BANDS order (display values / 255),
    mask (h, w) uint8 (0 non-forest, 1 forest)."""

    name: str
    image: np.ndarray
    mask: np.ndarray

    @property
    def forest_share(self) -> float:
        return float((self.mask == FOREST).mean())


def forest_share_slice(share: float) -> str:
    """Slice name of a chip by its forest share (thresholds fixed: 1/3 and 2/3)."""
    if share < 1 / 3:
        return "lt33"
    return "33to67" if share < 2 / 3 else "gt67"


def derive_split(shares: Mapping[str, float], n_val: int, seed: int) -> dict[str, list[str]]:
    """The split rule: sort chips by (forest share, name), cut the order into ``n_val``
    consecutive strata of near-equal size (numpy.array_split), and pick one chip per stratum
    with ``numpy.random.default_rng(seed).integers``. Returns sorted train/val name lists."""
    if not 0 < n_val < len(shares):
        raise DataError(f"n_val={n_val} must be between 1 and {len(shares) - 1} (chips: "
                        f"{len(shares)})")
    order = sorted(shares, key=lambda n: (shares[n], n))
    rng = np.random.default_rng(seed)
    val = [str(s[int(rng.integers(len(s)))]) for s in np.array_split(np.array(order), n_val)]
    return {"train": sorted(set(order) - set(val)), "val": sorted(val)}


class AmazonForestChips:
    """The amazon_forest chips of one split (``"train"``, ``"val"`` or ``"all"``)."""

    folder: ClassVar[str] = "satellite/amazon_forest"
    image_glob: ClassVar[str] = "Amazon_*.tif"
    mask_suffix: ClassVar[str] = "_mask.png"
    sensor: ClassVar[str] = "rgb8"
    mask_classes: ClassVar[Mapping[int, int]] = {0: NONFOREST, 1: FOREST}
    split_file: ClassVar[str] = "split.json"
    citation: ClassVar[str] = CITATION

    def __init__(self, data_dir: Path, split: str = "all") -> None:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        self.root = Path(data_dir) / self.folder
        if not self.root.is_dir():
            raise DataError(f"{self.root}: chip folder missing; it ships with the project "
                            "(data/satellite/amazon_forest)")
        names = sorted(p.name[:-4] for p in self.root.glob(self.image_glob))
        if not names:
            raise DataError(f"{self.root}: no {self.image_glob} chips found")
        if split != "all":
            chosen = set(self.read_split()[split])
            missing = chosen - set(names)
            if missing:
                raise DataError(f"{self.root / self.split_file} names chips that are not there: "
                                f"{sorted(missing)}")
            names = [n for n in names if n in chosen]
        self.split, self.names = split, tuple(names)

    def read_split(self) -> dict[str, list[str]]:
        path = self.root / self.split_file
        try:
            raw = json.loads(path.read_text())
            return {"train": list(raw["train"]), "val": list(raw["val"])}
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"{path}: unreadable split file ({e}); restore it from git") from e

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Chip]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, i: int) -> Chip:
        name = self.names[i]
        image = RasterSource(self.root / f"{name}.tif", self.sensor).read()
        mask = self.read_mask(self.root / f"{name}{self.mask_suffix}")
        if mask.shape != image.data.shape[1:]:
            raise DataError(f"{name}: mask {mask.shape} and image {image.data.shape[1:]} differ")
        return Chip(name, image.data.astype(np.float32), mask)

    def read_mask(self, path: Path) -> np.ndarray:
        import warnings

        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():  # the PNG masks carry no georeference: the chip's grid
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with _open(path) as ds:
                raw = ds.read(1)
        bad = np.setdiff1d(np.unique(raw), list(self.mask_classes))
        if bad.size:
            raise DataError(f"{path}: mask values {bad.tolist()} are not classes "
                            f"{sorted(self.mask_classes)}")
        lut = np.zeros(max(self.mask_classes) + 1, dtype=np.uint8)
        for code, cls in self.mask_classes.items():
            lut[code] = cls
        return lut[raw]

    def load(self) -> list[Chip]:
        return list(self)
