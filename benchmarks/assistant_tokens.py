"""Tokens per second of the assistant: the dequantised F32 reference vs the served variant.

    nice .venv/bin/python benchmarks/assistant_tokens.py [--repeats 7] [--decode 64] [--served Q4_1]

Same llama.cpp runtime, same thread count (1), same prompt; passes are interleaved (ref, served,
ref, served …) after one warm-up each, so background load hits both sides alike. Decode: a fixed
number of tokens (EOS banned) after a short prompt, prompt time subtracted. Prefill: a ~500-token
prompt, 1 generated token. Prints median and IQR per side and the ratio of medians, plus J/token
from core.energy (method printed). The served variant defaults to the model card's choice.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PROMPT = [{"role": "user", "content": "Write a short story about a wind turbine."}]


def _long_prompt() -> list[dict[str, str]]:
    root = Path(__file__).resolve().parents[1] / "data" / "assistant" / "texts"
    text = " ".join(p.read_text() for p in sorted(root.glob("*.txt")))
    return [{"role": "user", "content": "Summarise: " + text[:2600]}]


def _decode_pass(rt, meter, tokens: int) -> tuple[float, float, str]:
    with meter.window("bench-decode", unit="token") as w:
        t0 = time.perf_counter()
        gen = rt.chat(PROMPT, max_tokens=tokens, ignore_eos=True)
        elapsed = time.perf_counter() - t0
        w.count += gen.completion_tokens
    m = w.measurement
    return gen.completion_tokens / elapsed, m.energy_j / gen.completion_tokens, m.method


def _prefill_pass(rt, long_prompt) -> float:
    rt._llm.reset()  # no KV-prefix reuse between passes: measure real prefill
    t0 = time.perf_counter()
    gen = rt.chat(long_prompt, max_tokens=1)
    return gen.prompt_tokens / (time.perf_counter() - t0)


def _spread(values: list[float]) -> str:
    p25, p50, p75 = np.percentile(values, [25, 50, 75])
    return f"{p50:8.1f}  (IQR {p25:.1f}–{p75:.1f})"


def _served_default() -> str:
    import json

    card = Path("models/assistant/smollm2-135m-instruct.card.json")
    if card.is_file():
        return str(json.loads(card.read_text())["metrics"]["served"])
    return "Q4_1"


def main() -> None:
    from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path
    from apps.assistant.variants import REFERENCE, SHIPPED, build_variant
    from core.energy import Meter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--decode", type=int, default=64, help="decode tokens per pass")
    ap.add_argument("--served", default=None, help="variant to compare (default: model card)")
    ap.add_argument("--cache-dir", type=Path, default=Path(".greenstack/assistant/gguf"))
    args = ap.parse_args()
    served = args.served or _served_default()
    src = shipped_gguf_path()
    paths = {REFERENCE: build_variant(src, args.cache_dir, REFERENCE).path,
             served: src if served == SHIPPED else build_variant(src, args.cache_dir, served).path}
    runtimes = {n: LlamaRuntime(p, n_ctx=1024, n_threads=1, name=n) for n, p in paths.items()}
    meter, long_prompt = Meter(), _long_prompt()
    res: dict[str, dict[str, list[float]]] = {n: {"dec": [], "jpt": [], "pre": []}
                                              for n in runtimes}
    method = "?"
    for rep in range(args.repeats + 1):  # pass 0 is the warm-up, discarded
        for name, rt in runtimes.items():
            tps, jpt, method = _decode_pass(rt, meter, args.decode)
            pre = _prefill_pass(rt, long_prompt)
            if rep:
                res[name]["dec"].append(tps)
                res[name]["jpt"].append(jpt)
                res[name]["pre"].append(pre)
    print(f"llama.cpp, 1 thread, {args.repeats} interleaved passes after 1 warm-up; "
          f"energy method: {method}")
    print(f"{'variant':<16}{'decode tok/s':>32}{'prefill tok/s':>34}{'J/token (median)':>20}")
    for name, r in res.items():
        label = f"{name} ({'reference' if name == REFERENCE else 'served'})"
        print(f"{label:<16}{_spread(r['dec']):>32}{_spread(r['pre']):>34}"
              f"{np.median(r['jpt']):>20.4f}")
    ref, srv = res[REFERENCE], res[served]
    print(f"served / reference: decode {np.median(srv['dec']) / np.median(ref['dec']):.2f}×, "
          f"prefill {np.median(srv['pre']) / np.median(ref['pre']):.2f}×, "
          f"J/token {np.median(srv['jpt']) / np.median(ref['jpt']):.2f}×")


if __name__ == "__main__":
    main()
