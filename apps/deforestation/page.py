"""Streamlit page: a finished job's before/after RGB and loss overlay, hectares and CO2 with
ranges, the teacher-vs-student gate table and throughput. Works on an empty cache."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from apps.context import AppContext


def _rgb(src: Any) -> np.ndarray:
    scene = src.read()
    rgb = np.stack([scene.data[2], scene.data[1], scene.data[0]], -1)  # red, green, blue
    lo, hi = np.percentile(rgb[scene.valid], [2, 98]) if scene.valid.any() else (0.0, 1.0)
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)


def _overlay(rgb: np.ndarray, lossmap: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(lossmap) as ds:
        codes = ds.read(1)
    out = rgb.copy()
    out[codes == 1] = 0.6 * np.array([1.0, 0.0, 0.0]) + 0.4 * out[codes == 1]
    out[codes == 255] *= 0.5
    return out


def _acct(st: Any, title: str, a: dict[str, Any]) -> None:
    st.markdown(f"**{title}**")
    c1, c2, c3 = st.columns(3)
    c1.metric("loss (geodesic ha)", f"{a['loss_ha']:,.1f}")
    c2.metric("tCO2 above-ground", f"{a['co2_t_above_ground']:,.0f}",
              help=f"range {a['co2_t_above_ground_low']:,.0f} – {a['co2_t_above_ground_high']:,.0f}")
    c3.metric("tCO2 with roots", f"{a['co2_t_with_roots']:,.0f}",
              help=f"range {a['co2_t_with_roots_low']:,.0f} – {a['co2_t_with_roots_high']:,.0f}")
    st.caption(f"range {a['co2_t_with_roots_low']:,.0f} – {a['co2_t_with_roots_high']:,.0f} t "
               f"(with roots). {a['method']}")


def render(ctx: AppContext) -> None:
    """Page body (no set_page_config)."""
    import streamlit as st

    from apps.deforestation.pipeline import real_sources
    from apps.deforestation.service import DeforestationService

    st.header("Deforestation: forest-loss detection")
    svc = DeforestationService(ctx)
    d = svc.last_summary()
    if d is None:
        st.info("No run yet. Produce one with `greenstack run deforestation` (a few minutes on "
                "2 cores), then reload this page.")
        return
    lossmap = d["job"].get("lossmap")
    if lossmap and Path(lossmap).exists():
        real = real_sources(ctx.data_dir)
        b, a = _rgb(real["oscd_aguasclaras_2015"]), _rgb(real["oscd_aguasclaras_2017"])
        c1, c2, c3 = st.columns(3)
        c1.image(b, caption="before: Sentinel-2 2015-09-16 (real)", clamp=True)
        c2.image(a, caption="after: Sentinel-2 2017-10-15 (real)", clamp=True)
        c3.image(_overlay(a, Path(lossmap)), caption="detected loss (red), unknown (dark)",
                 clamp=True)
    st.caption("Águas Claras (OSCD) is urban/cerrado change, shown as a real end-to-end demo.")
    if d["detected"]:
        _acct(st, "Detected loss (app output, monitoring — not a saving)", d["detected"])
    for name, acct in d["official_maps"].items():
        _acct(st, f"Official map: {name} (real)", acct)
    st.subheader(f"Gate: {d['gate_verdict']} — serving the {d['served_model']}")
    st.caption("F1 rows: SIMULATED held-out scenes; agreement and end-to-end speed: REAL rasters")
    st.dataframe(d["gate_rows"], use_container_width=True)
    st.dataframe(d["gate_checks"], use_container_width=True)
    e2e, mo = d["speed_end_to_end"], d["speed_model_only"]
    st.subheader("Throughput")
    st.write({"model-only speedup (gate benchmark)": mo.get("speedup"),
              "end-to-end tiles/s (teacher, student)": e2e["tiles_per_s"],
              "end-to-end speedup": e2e["speedup"]})
    st.subheader("Footprint of this app")
    st.json(d["footprint"])
