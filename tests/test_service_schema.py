"""The service against its own OpenAPI document (schemathesis): no 5xx, every answer's
status, content type and body as documented. Runs on a service without a worker, so
generated jobs stay queued and no model work starts."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import start_service


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    svc = start_service(tmp_path_factory.mktemp("schema"), worker=False, max_queue=50)
    try:
        yield schemathesis.openapi.from_url(f"{svc.url}/openapi.json")
    finally:
        svc.stop()


def _runner(op, checks):
    @given(case=op.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(checks=checks, timeout=30)

    return run


@pytest.mark.slow
def test_every_route_answers_as_documented(api_schema):
    # schemathesis' own pytest parametrisation does not run on this pytest; the same
    # checks are driven through hypothesis directly, one operation at a time
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures = []
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for op in operations:
        # /ready answers a documented 503 here: this service has no worker
        run = _runner(op, checks[1:] if op.path == "/ready" else checks)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup
            failures.append(f"{op.method.upper()} {op.path}: {exc}")
    assert not failures, "\n\n".join(failures)
