"""Fuzz the live OpenAPI schema with schemathesis on loopback: no 5xx, responses conform.

Runs against a real uvicorn server (subprocess) on a seeded temp ledger. The fuzzer sends a key
with ``read`` and ``control`` scopes, so cooling control endpoints are exercised; ``jobs`` and
``admin`` are withheld so fuzzing never launches batch jobs (those answer the documented 403).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

# Bounded: examples per operation. Raise locally with GREENSTACK_FUZZ_EXAMPLES=200 for a deep run.
MAX_EXAMPLES = int(os.environ.get("GREENSTACK_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_headers(stack) -> dict[str, str]:
    from apps.auth import ApiKeyStore
    from core.ledger import Ledger

    token = ApiKeyStore(Ledger(stack.ledger_url).engine).create(["read", "control"], "fuzz").token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(stack):
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure reproduces
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, fuzz_headers) -> None:
    case.call_and_validate(headers=fuzz_headers, checks=CHECKS, timeout=60)
