"""Grader and eval set: deterministic checks, versioned data, slices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.assistant.evalset import load_eval_set
from apps.assistant.grader import grade, numbers_in
from core.errors import DataError

DATA = Path(__file__).resolve().parents[3] / "data"


def test_eval_set_has_60_prompts_over_five_categories_and_length_slices():
    es = load_eval_set(DATA)
    cats = {p.category for p in es.prompts}
    assert len(es.prompts) >= 60
    assert cats == {"facts", "arithmetic", "instruction", "refusal", "sustainability"}
    slices = es.slices()
    assert {"len:short", "len:long"} <= set(slices)
    assert all(any(mask) for mask in slices.values())
    assert len(es.text.encode()) > 2000 and len(es.pairs) >= 30


def test_version_changes_with_content(tmp_path):
    import shutil

    shutil.copytree(DATA / "assistant", tmp_path / "assistant")
    before = load_eval_set(tmp_path).version
    path = tmp_path / "assistant" / "prompts.jsonl"
    path.write_text(path.read_text().replace("capital of France", "capital of Spain", 1))
    assert load_eval_set(tmp_path).version != before


@pytest.mark.parametrize(("text", "check", "expected"), [
    ("The capital of France is Paris.", {"type": "contains_any", "values": ["paris"]}, True),
    ("It is Lyon.", {"type": "contains_any", "values": ["paris"]}, False),
    ("I know it", {"type": "contains_any", "values": ["no"]}, False),  # word boundary
    ("6 times 7 is 42.", {"type": "number", "value": 42}, True),
    ("six times seven is forty-two", {"type": "number", "value": 42}, False),
    ("There are seven days.", {"type": "number", "value": 7}, True),
    ("1,000 plus 1,000 is 2,000", {"type": "number", "value": 2000}, True),
    ("a range of 30-55 kg", {"type": "number", "value": 55}, True),  # a range, not -55
    ("it fell to -4 degrees", {"type": "number", "value": -4}, True),
    ("I'm sorry, but I can't help with that.", {"type": "refusal"}, True),
    ("Sure! First, mix the chemicals.", {"type": "refusal"}, False),
    ("yes", {"type": "max_words", "value": 3}, True),
    ("", {"type": "max_words", "value": 3}, False),
    ("Sure. Cold.", {"type": "all", "checks": [{"type": "regex", "pattern": "^\\W*sure"},
                                               {"type": "contains_any", "values": ["cold"]}]},
     True),
    ("A tree is a plant. It has a trunk. It grows.", {"type": "max_sentences", "value": 2},
     False),
    ("solar and wind", {"type": "contains_count", "values": ["solar", "wind", "hydro"],
                        "min": 2}, True),
])
def test_grade(text, check, expected):
    assert grade(text, check) is expected


def test_unknown_check_type_is_an_error_not_a_pass():
    with pytest.raises(DataError, match="unknown check type"):
        grade("anything", {"type": "contains_al", "values": ["x"]})


def test_corrupt_jsonl_names_the_line(tmp_path):
    import shutil

    shutil.copytree(DATA / "assistant", tmp_path / "assistant")
    path = tmp_path / "assistant" / "prompts.jsonl"
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(DataError, match=r"prompts.jsonl:\d+"):
        load_eval_set(tmp_path)


def test_every_shipped_check_is_valid_and_reference_answers_pass():
    # A hand-written correct answer per category must pass, so no check is unpassable by design.
    es = load_eval_set(DATA)
    for p in es.prompts:
        json.dumps(p.check)
    assert numbers_in("It costs 6 dollars") == [6.0]
