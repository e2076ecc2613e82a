"""Which files and configuration the assistant serves: variant paths, the model card's location,
the configuration the serving gate chose and the runtime it loads."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class Served:
    """What the model card decides, read once: the configuration to serve with, the weights to
    load (None before any card exists) and why."""

    config: ServeConfig
    variant: str | None
    reason: str


def served(ctx: AppContext) -> Served:
    """Read the card once (through core.gates): the serving search's choice when it was gated on
    today's serving set; else the hand-set defaults with the weights the latest weights gate
    passed (``core.gates.served_choice_of``), or the reference."""
    from apps.assistant.config_search import ServingChoice
    from apps.assistant.gate_run import prompt_gate_version
    from apps.assistant.serving_set import load_serving_set
    from core.gates import ModelCard, served_choice_of

    path = card_path(ctx)
    if not path.is_file():
        return Served(ServeConfig(), None, f"no assistant model card at {path}: run "
                      "`greenstack run assistant` once to build and gate the model variants")
    try:
        card = ModelCard.load(path)
    except ModelError as e:  # corrupt: the reference serves with the hand-set defaults
        return Served(ServeConfig(), REFERENCE, str(e))
    search = card.metrics.get("serving")
    if search and search.get("serving_set_version") == load_serving_set(ctx.data_dir).version:
        choice = ServingChoice(**search["served_config"])
        return Served(choice.serve_config(), choice.variant, str(search.get("served_reason", "")))
    weights = served_choice_of(card, path, prompt_gate_version(load_eval_set(ctx.data_dir)))
    name = weights.name if weights.served == "candidate" and weights.name else REFERENCE
    return Served(ServeConfig(), name, weights.reason)


def served_config(ctx: AppContext) -> ServeConfig:
    """The ServeConfig to serve with: the searched choice, else the hand-set defaults."""
    return served(ctx).config


def load_served_runtime(ctx: AppContext, config: ServeConfig,
                        decision: Served | None = None) -> tuple[LlamaRuntime, str]:
    """Load the weights ``decision`` names (None: read the card now), with the reason."""
    decision = decision or served(ctx)
    if decision.variant is None:
        raise ModelError(decision.reason)
    runtime = LlamaRuntime(variant_path(ctx, decision.variant), n_ctx=config.n_ctx,
                           n_threads=config.threads, name=decision.variant)
    return runtime, f"{decision.variant}: {decision.reason}"


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

