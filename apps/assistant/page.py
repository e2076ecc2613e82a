"""Streamlit chat page: every answer shows its J/token and gCO2e; cumulative savings on top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.assistant.service import AssistantService
    from apps.context import AppContext

EMPTY_HINT = ("No assistant model has been gated yet. Produce one with `greenstack run "
              "assistant` (about 5 minutes on 2 cores); the chat opens once the model card exists.")
HISTORY_KEY = "assistant_chat"


def _gate_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = card.get("metrics", {})
    ref = metrics.get("reference", {})
    rows = [{"variant": f"{ref.get('name')} (reference)", "perplexity": ref.get("perplexity"),
             "accuracy %": ref.get("accuracy_pct"), "tok/s": ref.get("tok_per_s"),
             "J/token": ref.get("j_per_token"), "verdict": ""}]
    for c in metrics.get("candidates", []):
        rows.append({"variant": c["name"], "perplexity": c["perplexity"],
                     "accuracy %": c["accuracy_pct"], "tok/s": c["tok_per_s"],
                     "J/token": c["j_per_token"], "verdict": "PASS" if c["passed"] else "FAIL"})
    return rows


def _meta_line(meta: dict[str, Any]) -> str:
    jpt = meta.get("j_per_token")
    cost = (f"{jpt:.4f} J/token" if jpt is not None else "0 tokens generated")
    line = (f"{cost} · {meta['energy_j']:.3f} J ({meta['method']}) · "
            f"{meta['co2e_g'] * 1e3:.4f} mgCO2e · {meta['wall_s'] * 1000:.0f} ms · "
            f"cache {meta['cache']}")
    if meta.get("energy_avoided_j"):
        line += f" (avoided {meta['energy_avoided_j']:.3f} J)"
    if meta.get("citations"):
        line += " · sources: " + ", ".join(meta["citations"])
    return line


def _savings(st: Any, ctx: AppContext, service: AssistantService) -> None:
    totals = service.totals
    booked_g, note, serve_rows = service.booked_savings()
    cols = st.columns(4)
    cols[0].metric("requests this session", totals.requests)
    cols[1].metric("energy avoided by caches", f"{totals.energy_avoided_j:.2f} J")
    cols[2].metric("prompt tokens trimmed", totals.tokens_saved)
    cols[3].metric("booked savings (ledger)", f"{booked_g:.3f} g",
                   help="latest replay saving vs the naive configuration plus reused runs; "
                        f"{note}; {serve_rows} serve records in the ledger")


def _utilisation(st: Any, service: AssistantService) -> None:
    """Busy share of the batch engine and the batch size of recent decode steps."""
    b = service.stats()["batching"]
    cols = st.columns(3)
    cols[0].metric("engine busy share", f"{b['busy_share']:.1%}",
                   help="share of time since start the batch engine spent decoding")
    cols[1].metric("mean batch size", f"{b.get('mean_batch_size', 0.0):.2f}",
                   help=f"sequences per decode step (at most {b['max_seqs']})")
    cols[2].metric("decode steps", b["steps"])
    recent = b.get("recent_batch_sizes") or []
    if recent:
        t0 = recent[0][0]
        st.line_chart({"seconds": [t - t0 for t, _ in recent],
                       "batch size": [n for _, n in recent]}, x="seconds", y="batch size")


def _ask(service: AssistantService, history: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
    from apps.assistant.schemas import ChatCompletionRequest, ChatMessage

    turns = [ChatMessage(role=h["role"], content=h["content"]) for h in history]
    turns.append(ChatMessage(role="user", content=prompt))
    result = service.complete(ChatCompletionRequest(model=service.model_id, messages=turns))
    meta = {"j_per_token": result.j_per_token, "energy_j": result.energy_j,
            "co2e_g": result.co2e_g, "method": result.method, "wall_s": result.wall_s,
            "cache": result.cache if not result.cache_kind else f"hit ({result.cache_kind})",
            "energy_avoided_j": result.energy_avoided_j, "citations": list(result.citations)}
    return {"role": "assistant", "content": result.text, "meta": meta}


def render(ctx: AppContext) -> None:
    """Page body (no set_page_config)."""
    import streamlit as st

    from apps.assistant.service import service_for
    from core.errors import GreenstackError

    service = service_for(ctx)
    card = service.card()
    st.header(f"Assistant — {card['name'] if card else 'SmolLM2-135M'}, energy per answer")
    if card is None:
        st.info(EMPTY_HINT)
        return
    st.caption(f"served: {card['metrics'].get('served')} · "
               f"{card['protocol'].get('reference_note', '')}")
    with st.expander("quantisation gate"):
        st.dataframe(_gate_rows(card))
    serving = card["metrics"].get("serving")
    if serving:
        st.caption(f"serving configuration: {serving['served_label']} — quality on the "
                   f"held-back requests {serving['quality_served_pct']:.1f} % vs naive "
                   f"{serving['quality_naive_pct']:.1f} %, "
                   f"{serving['j_per_request_served']:.3f} vs "
                   f"{serving['j_per_request_naive']:.3f} J per answered request "
                   f"({serving['served_reason']})")
    _savings(st, ctx, service)
    with st.expander("utilisation (continuous batching)"):
        _utilisation(st, service)
    history: list[dict[str, Any]] = st.session_state.setdefault(HISTORY_KEY, [])
    for turn in history:
        with st.chat_message(turn["role"]):
            st.write(turn["content"])
            if turn.get("meta"):
                st.caption(_meta_line(turn["meta"]))
    prompt = st.chat_input("Ask something (answers are short by design)")
    if not prompt:
        return
    try:
        answer = _ask(service, history, prompt)
    except GreenstackError as e:
        st.error(str(e))
        return
    history += [{"role": "user", "content": prompt}, answer]
    st.rerun()
