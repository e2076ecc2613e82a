"""The grounding category of the serving set: the shipped ledger fixture, citation grading, and
the search grounding those items as the service does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from apps.assistant.grader import citations_in, grade, validate_check
from apps.assistant.grounding import wants_grounding
from apps.assistant.grounding_fixture import build_fixture_ledger, fixture_grounding
from apps.assistant.serving_set import load_serving_set
from core.errors import DataError

DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def grounding():
    return fixture_grounding(DATA)


@pytest.fixture(scope="module")
def items():
    return [i for i in load_serving_set(DATA).items if i.category == "grounding"]


def _citation_checks(check):
    if check["type"] == "citations":
        return [check]
    return [c for sub in check.get("checks", []) for c in _citation_checks(sub)]


def test_grounding_category_is_split_and_is_exactly_the_grounded_questions(items):
    assert len(items) >= 20
    assert sum(i.split == "tune" for i in items) >= 10
    assert sum(i.split == "held" for i in items) >= 10
    assert any(_citation_checks(i.check) for i in items)
    assert any(len(i.messages) > 1 for i in items)  # follow-ups that need the earlier turns
    for item in load_serving_set(DATA).items:  # no other category is grounded by accident
        assert wants_grounding(item.question) is (item.category == "grounding"), item.id


def test_fixture_ledger_has_fixed_ids_and_counts_as_core_impact(grounding):
    ledger = build_fixture_ledger(DATA)
    assert [s.id for s in ledger.savings()] == list(range(1, 8))
    assert [f.id for f in ledger.footprints()] == list(range(1, 7))
    g = grounding("How much did the assistant save according to the ledger?")
    # The older estimate (saving 4) is superseded: neither summed nor cited.
    assert g.citations == ("ledger:saving#6", "ledger:footprints#5-6")
    assert "1.2 kgCO2e" in g.facts[0] and "0.8" not in g.facts[0]
    assert grounding("What is the capital of France?") is None


def test_retrieved_records_pass_every_grounding_check_and_no_answer_fails_them(items, grounding):
    # Answering with the retrieved records themselves passes (no check is unpassable), an answer
    # without them fails (no check passes by accident).
    for item in items:
        facts = grounding(item.question)
        assert facts is not None, item.id
        assert grade(facts.prompt(), item.check), item.id
        assert not grade("I do not have that information.", item.check), item.id
        for check in _citation_checks(item.check):
            assert set(check["required"]) | set(check["allowed"]) <= set(facts.citations)


def test_a_wrong_citation_fails_every_citation_check(items, grounding):
    checked = 0
    for item in items:
        for check in _citation_checks(item.check):
            right = " ".join(f"[{c}]" for c in check["required"])
            assert grade(f"It is 15.75 kgCO2e {right}.", check)
            # the superseded estimate, a neighbouring record, a made-up one: each fails
            for wrong in ("ledger:saving#4", "ledger:footprints#2-3", "ledger:savings#9"):
                if wrong not in check["allowed"] and wrong not in check["required"]:
                    assert not grade(f"It is 15.75 kgCO2e [{wrong}].", check), item.id
                    assert not grade(f"It is 15.75 kgCO2e {right} [{wrong}].", check), item.id
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize(("text", "expected"), [
    ("The assistant saved 1.2 kgCO2e [ledger:saving#6].", True),
    ("See ledger:saving#6, and ledger:footprints#5-6.", True),
    ("[LEDGER:SAVING#6]", True),
    ("The assistant saved 1.2 kgCO2e [ledger:saving#4].", False),  # superseded estimate
    ("The assistant saved 1.2 kgCO2e [ledger:saving#6] [ledger:savings#5,7].", False),
    ("The assistant saved 1.2 kgCO2e.", False),  # no citation
    ("[ledger:saving#60]", False),
])
def test_citations_check(text, expected):
    check = {"type": "citations", "required": ["ledger:saving#6"],
             "allowed": ["ledger:footprints#5-6"]}
    assert grade(text, check) is expected


def test_citation_ids_parse_as_retrieval_writes_them():
    assert citations_in("[ledger:savings#5,7], then [ledger:footprints#1-2]. "
                        "[card:assistant/smollm2.card.json].") == [
        "ledger:savings#5,7", "ledger:footprints#1-2", "card:assistant/smollm2.card.json"]


@pytest.mark.parametrize("check", [
    {"type": "citations", "required": []},
    {"type": "citations", "required": ["saving 6"]},
    {"type": "citations", "required": ["ledger:saving#6"], "allowed": "ledger:saving#1"},
])
def test_malformed_citation_checks_are_data_errors(check):
    with pytest.raises(DataError, match="citation"):
        validate_check(check)


def test_fixture_is_part_of_the_version_and_required(tmp_path):
    shutil.copytree(DATA / "assistant", tmp_path / "assistant")
    before = load_serving_set(tmp_path).version
    path = tmp_path / "assistant" / "grounding_ledger.json"
    body = json.loads(path.read_text())
    body["savings"][0]["co2e_kg"] = 43.0
    path.write_text(json.dumps(body))
    assert load_serving_set(tmp_path).version != before
    path.unlink()
    with pytest.raises(DataError, match="grounding_ledger.json is missing"):
        build_fixture_ledger(tmp_path)


@pytest.mark.slow
def test_search_grounds_on_the_fixture_and_never_caches_a_grounded_answer(runtime, items):
    from apps.assistant.config_search import Evaluator, Generations, ServingChoice
    from core.energy import Meter

    meter = Meter()
    gens = Generations({"Q4_1": runtime}, meter)
    evaluator = Evaluator(gens, None, 0.9, meter, fixture_grounding(DATA))
    item = items[0]
    out = evaluator.run(ServingChoice("Q4_1", 4, "short", "full", "exact"), [item, item])
    assert out.hits == 0  # the repeat is generated again (the memo shares its energy), not a hit
    prompts = [key[1] for key in gens._memo]
    assert len(prompts) == 1 and "ledger:savings#2-3" in prompts[0]
    plain = Evaluator(gens, None, 0.9, meter)  # without the fixture nothing is grounded
    assert plain.run(ServingChoice("Q4_1", 4, "short", "full", "exact"), [item, item]).hits == 1
