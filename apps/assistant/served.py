"""Which files and configuration the assistant serves: variant paths, the model card's location,
the configuration the serving gate chose and the runtime it loads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.evalset import load_eval_set
from apps.assistant.model_file import ModelFile, describe, resolve
from apps.assistant.runtime import LlamaRuntime
from apps.assistant.serving import NAIVE, ServeConfig
from apps.assistant.variants import REFERENCE, build_variant
from core.errors import ModelError

if TYPE_CHECKING:
    from apps.context import AppContext

APP = "assistant"
# The naive baseline has no token discipline; its completion cap is the only concession, so the
# search stays affordable on 2 CPU cores (an uncapped baseline would only save more).
NAIVE_MAX_TOKENS = 96


def variants_dir(ctx: AppContext, model: ModelFile) -> Path:
    """Where re-quantisations of ``model`` are built (git-ignored cache; one folder per file)."""
    root = ctx.app_cache_dir(APP) / "gguf"
    return root if model.shipped else root / model.model_id


def variant_path(ctx: AppContext, name: str, model: ModelFile | None = None) -> Path:
    """GGUF path of variant ``name`` of ``model`` (default: the context's; built on demand)."""
    model = model or describe(ctx.assistant_model)
    if name == model.quant:
        return model.path
    return build_variant(model.path, variants_dir(ctx, model), name).path


def card_path(ctx: AppContext) -> Path:
    """``models/assistant/<model id>.card.json`` for the context's model (shipped or the user's)."""
    return ctx.app_models_dir(APP) / f"{resolve(ctx.assistant_model)[1]}.card.json"


def served_choice(ctx: AppContext) -> tuple[Any, str] | None:
    """The serving configuration the card's search chose, if it was gated on today's serving set
    (``(ServingChoice, reason)``); None before any search or when the set changed."""
    import json

    from apps.assistant.config_search import ServingChoice
    from apps.assistant.serving_set import load_serving_set

    path = card_path(ctx)
    if not path.is_file():
        return None
    serving = json.loads(path.read_text()).get("metrics", {}).get("serving")
    if not serving or serving.get("serving_set_version") != load_serving_set(
            ctx.data_dir).version:
        return None
    return ServingChoice(**serving["served_config"]), str(serving.get("served_reason", ""))


def served_config(ctx: AppContext) -> ServeConfig:
    """The ServeConfig to serve with: the searched choice, else the hand-set defaults."""
    found = served_choice(ctx)
    return found[0].serve_config() if found else ServeConfig()


def load_served_runtime(ctx: AppContext, config: ServeConfig) -> tuple[LlamaRuntime, str]:
    """The weights the serving search chose, else those the latest passing weights gate chose,
    else the reference, with the reason."""
    from apps.assistant.gate_run import prompt_gate_version
    from core.gates import load_served_choice

    path = card_path(ctx)
    if not path.is_file():
        raise ModelError(f"no assistant model card at {path}: run `greenstack run assistant` "
                         "once to build and gate the model variants")
    version = prompt_gate_version(load_eval_set(ctx.data_dir))
    choice = load_served_choice(path, version)
    name = choice.name if choice.served == "candidate" and choice.name else REFERENCE
    reason = choice.reason
    found = served_choice(ctx)
    if found is not None:
        name, reason = found[0].variant, found[1]
    runtime = LlamaRuntime(variant_path(ctx, name), n_ctx=config.n_ctx,
                           n_threads=config.threads, name=name)
    return runtime, f"{name}: {reason}"


def fingerprint(ctx: AppContext) -> str:
    """Content hash of the served GGUF and every file under ``data/assistant``."""
    from core.runs import fingerprint_paths

    root = Path(ctx.data_dir) / "assistant"
    return fingerprint_paths([resolve(ctx.assistant_model)[0],
                              *sorted(p for p in root.rglob("*") if p.is_file())])


def naive_config(naive_max_tokens: int = NAIVE_MAX_TOKENS) -> ServeConfig:
    """The naive configuration the replay measures against, with its completion cap."""
    return replace(NAIVE, policy=replace(NAIVE.policy, default_max_tokens=naive_max_tokens),
                   record_requests=False)

