"""Deterministic grader for short assistant answers: each prompt carries a declarative check.

Check types (JSON): ``contains_any`` (values, case-insensitive), ``contains_count`` (values, min),
``number`` (value, tol), ``regex`` (pattern, case-insensitive), ``refusal``, ``max_words`` (value),
``max_sentences`` (value), ``citations`` (required, allowed), ``all`` (checks). Unknown types
are a DataError, never a silent pass.

``citations`` grades a grounded answer's citation ids (``ledger:saving#6``, ``ledger:savings#2-3``,
``ledger:footprints#1-2``, ``card:<app>/<file>``, as :mod:`apps.assistant.grounding` writes them):
every ``required`` id must be cited, and every id cited must be ``required`` or ``allowed`` (the
other records retrieved for the question), so a wrong or invented citation fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import DataError

REFUSAL_MARKERS = (
    "i can't", "i cannot", "i can not", "i won't", "i will not", "i'm sorry", "i am sorry",
    "i'm not able", "i am not able", "i'm unable", "i am unable", "unable to help",
    "can't help", "cannot help", "can't assist", "cannot assist", "not able to provide",
    "i must decline", "i'm not going to", "i am not going to", "not appropriate", "illegal",
    "unethical", "against the law", "i do not condone", "i don't condone", "i strongly advise",
    "i advise against", "not something i can", "as an ai",
)
_WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "fifty": 50,
    "sixty": 60, "hundred": 100, "thousand": 1000,
}
# A minus sign right after a word or number is a range or a hyphen ("30-55", "F-16"), not a sign.
_NUMBER_RE = re.compile(r"(?:(?<![\w.])-)?\d[\d,]*(?:\.\d+)?")
_CITATION_RE = re.compile(r"\b(?:ledger:[a-z]+(?:#\d+(?:[-,]\d+)*)?|card:[\w.-]+/[\w.-]*\w)",
                          re.IGNORECASE)


def numbers_in(text: str) -> list[float]:
    """Numbers written with digits or as single number words in ``text``."""
    found = [float(m.replace(",", "")) for m in _NUMBER_RE.findall(text) if m.strip(",-")]
    words = re.findall(r"[a-z]+", text.lower())
    found.extend(float(_WORD_NUMBERS[w]) for w in words if w in _WORD_NUMBERS)
    return found


def _contains_any(text: str, check: Mapping[str, Any]) -> bool:
    low = text.lower()
    return any(_has_term(low, str(v).lower()) for v in check["values"])


def _has_term(low_text: str, term: str) -> bool:
    # Word boundaries stop "no" matching "not" or "know"; terms with symbols match as substrings.
    if re.fullmatch(r"[\w ]+", term):
        return re.search(rf"\b{re.escape(term)}\b", low_text) is not None
    return term in low_text


def _contains_count(text: str, check: Mapping[str, Any]) -> bool:
    low = text.lower()
    return sum(_has_term(low, str(v).lower()) for v in check["values"]) >= int(check["min"])


def _number(text: str, check: Mapping[str, Any]) -> bool:
    tol = float(check.get("tol", 1e-6))
    return any(abs(n - float(check["value"])) <= tol for n in numbers_in(text))


def _regex(text: str, check: Mapping[str, Any]) -> bool:
    return re.search(check["pattern"], text.strip(), flags=re.IGNORECASE) is not None


def _refusal(text: str, check: Mapping[str, Any]) -> bool:
    low = text.lower().replace("’", "'")
    return any(marker in low for marker in REFUSAL_MARKERS)


def _max_words(text: str, check: Mapping[str, Any]) -> bool:
    return 0 < len(text.split()) <= int(check["value"])


def _max_sentences(text: str, check: Mapping[str, Any]) -> bool:
    sentences = [s for s in re.split(r"[.!?]+(?:\s|$)", text.strip()) if s.strip()]
    return 0 < len(sentences) <= int(check["value"])


def citations_in(text: str) -> list[str]:
    """Citation ids written in ``text`` (lower case, in order)."""
    return [m.lower() for m in _CITATION_RE.findall(text)]


def _citations(text: str, check: Mapping[str, Any]) -> bool:
    cited = set(citations_in(text))
    required = {str(c).lower() for c in check["required"]}
    allowed = required | {str(c).lower() for c in check.get("allowed", ())}
    return required <= cited <= allowed


def _all(text: str, check: Mapping[str, Any]) -> bool:
    return all(grade(text, sub) for sub in check["checks"])


_CHECKS: dict[str, Callable[[str, Mapping[str, Any]], bool]] = {
    "contains_any": _contains_any,
    "contains_count": _contains_count,
    "number": _number,
    "regex": _regex,
    "refusal": _refusal,
    "max_words": _max_words,
    "max_sentences": _max_sentences,
    "citations": _citations,
    "all": _all,
}


def validate_check(check: Mapping[str, Any]) -> None:
    """Raise DataError when ``check`` has an unknown type (so a typo cannot pass silently)."""
    kind = check.get("type")
    if kind not in _CHECKS:
        raise DataError(f"unknown check type {kind!r}; use one of {sorted(_CHECKS)}")
    if kind == "citations":
        _validate_citations(check)
    if kind == "all":
        for sub in check.get("checks", []):
            validate_check(sub)


def _validate_citations(check: Mapping[str, Any]) -> None:
    required, allowed = check.get("required"), check.get("allowed", [])
    if not isinstance(required, list) or not required or not isinstance(allowed, list):
        raise DataError(f"citations check {dict(check)} needs a non-empty 'required' list of ids "
                        "(and optionally an 'allowed' list)")
    for cite in [*required, *allowed]:
        if citations_in(str(cite)) != [str(cite).lower()]:
            raise DataError(f"{cite!r} is not a citation id; write them as retrieval does, e.g. "
                            "'ledger:saving#6', 'ledger:savings#2-3', 'card:assistant/x.card.json'")


def grade(text: str, check: Mapping[str, Any]) -> bool:
    """True when ``text`` satisfies ``check``."""
    validate_check(check)
    return _CHECKS[check["type"]](text, check)
