"""Tokens per second of the assistant: the dequantised F32 reference vs the served variant, and
continuous batching vs one request at a time.

    nice .venv/bin/python benchmarks/assistant_tokens.py [--repeats 7] [--decode 64] [--served Q4_1]
    nice .venv/bin/python benchmarks/assistant_tokens.py --concurrency 1 2 4 8 [--json]
    nice .venv/bin/python benchmarks/assistant_tokens.py --decode-scaling 1 2 4 8

Decode scaling: the time of one ``llama_decode`` step holding one next token for each of N
sequences (after a 40-token prompt each, unified KV cache, the runtime's thread count), median of
20 steps after 4 warm-ups: how much batching can gain at most on this CPU for these weights.

Concurrency sweep: a real uvicorn server on loopback serves the served variant; N client threads
each send the same graded single-turn prompts (greedy, caches off, fixed max_tokens) through
/v1/chat/completions, once with the batch engine decoding up to 8 requests together and once with
it limited to one (one-at-a-time). Per level: completion tokens/s over the level's wall time,
p50/p95 request latency, J per completion token from one meter window over the level (the whole
process: server, engine and clients, same for both modes), the graded pass rate of each mode, how
many greedy answers are identical in both modes, and the prompt tokens the engine shared from its
prefix sequence instead of decoding.

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


def _sweep_level(url: str, token: str, clients: int, prompts: list, max_tokens: int,
                 meter) -> dict:
    import threading

    import httpx

    from apps.assistant.grader import grade

    latencies: list[float] = []
    tokens = [0]
    passed: list[bool] = []
    texts: dict[tuple[int, int], str] = {}
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(timeout=600, headers={"Authorization": f"Bearer {token}"}) as c:
            for k, item in enumerate(prompts):
                t0 = time.perf_counter()
                r = c.post(f"{url}/v1/chat/completions", json={
                    "model": "smollm2-135m-instruct", "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": item.question}]})
                r.raise_for_status()
                body = r.json()
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    tokens[0] += body["usage"]["completion_tokens"]
                    text = body["choices"][0]["message"]["content"]
                    passed.append(grade(text, item.check))
                    texts[(n, k)] = text

    with meter.window("bench-concurrency", unit="token") as w:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        w.count += tokens[0]
    m = w.measurement
    return {"tokens_per_s": tokens[0] / wall, "j_per_token": m.energy_j / max(tokens[0], 1),
            "p50_latency_s": float(np.percentile(latencies, 50)),
            "p95_latency_s": float(np.percentile(latencies, 95)),
            "quality_pct": 100.0 * float(np.mean(passed)), "requests": len(latencies),
            "completion_tokens": tokens[0], "method": m.method, "texts": texts}


def decode_scaling(sizes: list[int], served: str, cache_dir: Path,
                   threads: int = 1) -> list[dict]:
    """Median llama_decode step time with one decode token for each of N sequences."""
    import llama_cpp as L

    from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path
    from apps.assistant.variants import SHIPPED, build_variant

    src = shipped_gguf_path()
    path = src if served == SHIPPED else build_variant(src, cache_dir, served).path
    rt = LlamaRuntime(path, n_ctx=512, n_threads=threads, name=served)
    prompt = rt.chat_prompt_tokens(PROMPT)
    params = L.llama_context_default_params()
    params.n_ctx, params.n_seq_max, params.kv_unified = 64 * max(sizes) + 256, max(sizes), True
    params.n_batch = params.n_ubatch = 64 * max(sizes)
    params.n_threads = params.n_threads_batch = threads
    ctx = L.llama_init_from_model(rt._llm.model, params)
    mem, batch = L.llama_get_memory(ctx), L.llama_batch_init(params.n_batch, 0, max(sizes))

    def decode(rows: list[tuple[int, int, int, bool]]) -> float:
        for i, (tok, pos, seq, logits) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(rows)
        started = time.perf_counter()
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - started

    out = []
    try:
        for n in sizes:
            L.llama_memory_clear(mem, True)
            decode([(prompt[k % len(prompt)], k, s, k == 39) for s in range(n) for k in range(40)])
            steps = [decode([(100 + t, 40 + t, s, True) for s in range(n)]) for t in range(24)]
            step_s = float(np.median(steps[4:]))
            out.append({"sequences": n, "step_ms": 1e3 * step_s, "tokens_per_s": n / step_s,
                        "variant": served, "threads": threads})
    finally:
        L.llama_batch_free(batch)
        L.llama_free(ctx)
    return out


def concurrency_sweep(levels: list[int], served: str, per_client: int, max_tokens: int,
                      cache_dir: Path) -> list[dict]:
    """Batched vs one-at-a-time at each client count (see the module docstring)."""
    import socket
    import tempfile
    import threading

    import uvicorn

    from apps.api.server import create_app
    from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path
    from apps.assistant.service import AssistantService, register_service
    from apps.assistant.serving import ServeConfig
    from apps.assistant.serving_set import load_serving_set
    from apps.assistant.variants import SHIPPED, build_variant
    from apps.context import AppContext
    from apps.settings import Settings
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    root = Path(__file__).resolve().parents[1]
    items = [i for i in load_serving_set(root / "data").items if len(i.messages) == 1]
    prompts = items[:: max(len(items) // per_client, 1)][:per_client]
    src = shipped_gguf_path()
    path = src if served == SHIPPED else build_variant(src, cache_dir, served).path
    rt = LlamaRuntime(path, n_ctx=512, n_threads=1, name=served)
    tmp = Path(tempfile.mkdtemp())
    meter = Meter()
    ctx = AppContext(data_dir=root / "data", cache_dir=tmp, models_dir=tmp / "models",
                     ledger=Ledger(f"sqlite:///{tmp / 'ledger.db'}"), meter=meter,
                     carbon=resolve_source(zone="US-CISO"))
    app = create_app(Settings(zone="US-CISO", cache_dir=tmp, open_reads=True), ctx=ctx)
    token = app.state.key_store.create(["read", "compute"], "benchmark").token
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    out = []
    try:
        for n in levels:
            row: dict = {"concurrency": n, "requests_per_client": per_client,
                         "max_tokens": max_tokens, "variant": served}
            texts: dict[str, dict[tuple[int, int], str]] = {}
            for mode, seqs in (("sequential", 1), ("batched", 8)):
                cfg = ServeConfig(exact_cache=False, semantic_cache=False, grounding=False,
                                  record_requests=False, batch_max_seqs=seqs, n_ctx=512)
                service = AssistantService(ctx, cfg, runtime=rt, model_id="smollm2-135m-instruct")
                register_service(ctx, service)
                r = _sweep_level(url, token, n, prompts, max_tokens, meter)
                row[f"prefix_tokens_reused_{mode}"] = service.engine.stats().prefix_tokens_reused
                service.engine.close()
                texts[mode] = r.pop("texts")
                for k, v in r.items():
                    row[f"{k}_{mode}"] = v
            row["speedup"] = row["tokens_per_s_batched"] / row["tokens_per_s_sequential"]
            row["j_per_token_ratio"] = row["j_per_token_batched"] / row["j_per_token_sequential"]
            # greedy answers of the same request in both modes (see docs/assistant.md on why
            # batched float summation can flip a near-tied argmax)
            same = sum(texts["batched"][k] == v for k, v in texts["sequential"].items())
            row["greedy_answers_identical"] = f"{same}/{len(texts['sequential'])}"
            out.append(row)
    finally:
        server.should_exit = True
    return out


def main() -> None:
    from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path
    from apps.assistant.variants import REFERENCE, SHIPPED, build_variant
    from core.energy import Meter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--decode", type=int, default=64, help="decode tokens per pass")
    ap.add_argument("--served", default=None, help="variant to compare (default: model card)")
    ap.add_argument("--cache-dir", type=Path, default=Path(".greenstack/assistant/gguf"))
    ap.add_argument("--concurrency", type=int, nargs="+", default=None, metavar="N",
                    help="client counts for the batched vs one-at-a-time sweep")
    ap.add_argument("--per-client", type=int, default=4, help="requests per client (sweep)")
    ap.add_argument("--max-tokens", type=int, default=32, help="answer cap (sweep)")
    ap.add_argument("--json", action="store_true", help="sweep: one JSON object per level")
    ap.add_argument("--decode-scaling", type=int, nargs="+", default=None, metavar="N",
                    help="llama_decode step time with N sequences decoding together")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads (decode scaling)")
    args = ap.parse_args()
    served = args.served or _served_default()
    if args.decode_scaling:
        rows = decode_scaling(sorted({1, *args.decode_scaling}), served, args.cache_dir,
                              args.threads)
        base = rows[0]["tokens_per_s"]  # one sequence
        for row in rows:
            print(f"{row['sequences']} sequences ({row['variant']}, {row['threads']} threads): "
                  f"{row['step_ms']:.1f} ms per step, {row['tokens_per_s']:.0f} tokens/s "
                  f"({row['tokens_per_s'] / base:.2f}x one sequence)")
        return
    if args.concurrency:
        import json

        rows = concurrency_sweep(args.concurrency, served, args.per_client, args.max_tokens,
                                 args.cache_dir)
        for row in rows:
            if args.json:
                print(json.dumps(row))
            else:
                print(f"{row['concurrency']} clients: tokens/s batched "
                      f"{row['tokens_per_s_batched']:.1f} vs one-at-a-time "
                      f"{row['tokens_per_s_sequential']:.1f} ({row['speedup']:.2f}x); J/token "
                      f"{row['j_per_token_batched']:.4f} vs {row['j_per_token_sequential']:.4f} "
                      f"({row['j_per_token_ratio']:.2f}x); p50/p95 s batched "
                      f"{row['p50_latency_s_batched']:.2f}/{row['p95_latency_s_batched']:.2f} "
                      f"vs {row['p50_latency_s_sequential']:.2f}/"
                      f"{row['p95_latency_s_sequential']:.2f}; quality % "
                      f"{row['quality_pct_batched']:.1f} vs {row['quality_pct_sequential']:.1f} "
                      f"(identical greedy answers {row['greedy_answers_identical']}); "
                      f"energy {row['method_batched']}")
        return
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
