"""Streamlit page: an interactive map of a finished job (before/after imagery, loss polygons with
hectares and CO2), the pipeline's hectares and CO2 with ranges, the teacher-vs-student gate table
and throughput. Works on an empty cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.context import AppContext


def _deck(m: Any, show: str) -> Any:
    """pydeck chart: the chosen date's imagery as the base layer, loss polygons on top, and no
    basemap, so nothing is fetched from a tile server."""
    import pydeck as pdk

    layer = m.before if show == "before" else m.after
    w, s, e, n = layer.bounds_lonlat
    bitmap = pdk.Layer("BitmapLayer", id=f"imagery-{show}",
                       image=pdk.types.String(layer.png_data_url),  # a literal, not an expression
                       bounds=[w, s, e, n], opacity=1.0)
    polygons = pdk.Layer("GeoJsonLayer", id="loss", data=m.loss, pickable=True, stroked=True,
                         filled=True, get_fill_color=[255, 40, 40, 90],
                         get_line_color=[255, 40, 40, 255], line_width_min_pixels=2,
                         auto_highlight=True)
    view = pdk.ViewState(longitude=m.centre_lonlat[0], latitude=m.centre_lonlat[1],
                         zoom=m.zoom, pitch=0, bearing=0)
    tooltip = {"html": "<b>loss patch {patch_id}</b>: {area}<br/>{co2_above}<br/>{co2_roots}"
                       "<br/>{dates}"}
    # map_provider=None alone leaves pydeck's style sentinel in place, which Streamlit reads as
    # "no basemap"; an explicit map_style=None would make Streamlit pick its theme's Carto style.
    return pdk.Deck(layers=[bitmap, polygons], initial_view_state=view, map_provider=None,
                    tooltip=tooltip)


def _job_map(st: Any, svc: Any) -> None:
    from core.errors import DataError

    jobs = svc.finished_jobs()
    if not jobs:
        return
    st.subheader("Map of a finished job")
    labels = [j.label for j in jobs]
    pick = st.selectbox("job", labels, index=0)
    job = jobs[labels.index(pick)]
    try:
        m = svc.job_map(job.out_dir)
    except DataError as e:
        st.warning(str(e))
        return
    show = st.radio("imagery", ["after", "before"], horizontal=True,
                    format_func=lambda k: f"{k}: {getattr(m, k).date or 'date not stated'}")
    st.pydeck_chart(_deck(m, show), height=520)
    st.caption(f"{m.n_patches} loss patches (red) above the minimum mapping unit on the real "
               "imagery of each date; hover a patch for its hectares and CO2. The imagery is the "
               "base layer (offline, no tile server).")
    if m.n_patches:
        digits = {"patch_id": 0, "area_ha": 2, "co2_t_above_ground": 0, "co2_t_with_roots": 0,
                  "co2_t_with_roots_low": 0, "co2_t_with_roots_high": 0, "mean_confidence": 2}
        rows = [{k: round(f["properties"][k], n) for k, n in digits.items()}
                for f in m.loss["features"]]
        st.dataframe(rows, use_container_width=True, hide_index=True)


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

    from apps.deforestation.service import DeforestationService

    st.header("Deforestation: forest-loss detection")
    svc = DeforestationService(ctx)
    d = svc.last_summary()
    _job_map(st, svc)
    if d is None:
        st.info("No run yet. Produce one with `greenstack run deforestation` (a few minutes on "
                "2 cores), then reload this page.")
        return
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
