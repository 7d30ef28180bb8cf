"""Zero 5xx from bad input (issue 14): schemathesis generates requests from the OpenAPI document for
every operation of the JSON API and sends them in-process to the app `socpipe run` serves (SQLite
store, the demo province, the embedded pipeline behind the intake), each one as every role: four
API tokens (admin, analyst, police, viewer) and a console session with its CSRF token (inspector,
whose scope is their own plans); the intake's operations with a source token. Every answer is
checked: never a server error; and for requests the schema allows, the status, content type and
body as documented (a refusal is a documented problem).

Schemathesis's three phases run for each operation, as its pytest plugin builds them (its plugin's
lazy fixture schema does not run under pytest 9, hence `create_test`): the schema's examples, the
coverage phase (boundaries, wrong types, missing and extra fields), then `MAX_EXAMPLES` random
requests, valid and invalid. Times and days are drawn with the ends of the calendar included (year 1,
year 9999, offsets of ±14 h), where conversions overflow. Bounded so the run takes about two minutes
on this machine; a failure names the operation and role and prints the request as a curl command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.auth.csrf import CSRF_COOKIE
from api.auth.deps import SESSION_COOKIE, Role
from api.auth.service import create_api_token
from api.auth.testing import form_csrf, login
from api.context import AppContext
from soc_core.pipeline import EmbeddedPipeline
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Mode, Settings
from socpipe.app import create_app
from socpipe.demo.province import demo_registry
from socpipe.runtime import EmbeddedSubmit, build_backend, build_detect, build_normalize
from tests.backends import TEST_SECRET

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
#: Random requests per operation after the examples and the coverage phase (each sent as 5 roles).
MAX_EXAMPLES = int(os.environ.get("SOCPIPE_FUZZ_EXAMPLES", "10"))  # more for a deeper run by hand
#: Per generated request (five calls in-process); generous, so a busy machine does not fail the run.
DEADLINE = timedelta(seconds=10)

SERVER_CHECKS = [not_a_server_error]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

_ZONES = [UTC, *(timezone(timedelta(hours=h)) for h in (-14, -5, 7, 14))]
_EDGE_DAYS = [date.min, date.max, date(1899, 12, 31), date(1900, 1, 1), date(9998, 12, 31)]
#: The ends of the calendar in the zones farthest from UTC: where moving a time to UTC overflows.
_EDGE_TIMES = [
    datetime.combine(day, clock, tzinfo=zone).isoformat()
    for day, clock in ((date.min, datetime.min.time()), (date.max, datetime.max.time()))
    for zone in _ZONES
]
_DAYS = st.one_of(st.sampled_from(_EDGE_DAYS), st.dates())
_TIMES = st.one_of(
    st.sampled_from(_EDGE_TIMES), st.datetimes(timezones=st.sampled_from(_ZONES)).map(datetime.isoformat)
)
schemathesis.openapi.format("date", _DAYS.map(date.isoformat))
schemathesis.openapi.format("date-time", _TIMES)


@dataclass
class Caller:
    """How one role signs its requests: a bearer token, or a console session with its CSRF token."""

    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class Fuzzed:
    app: FastAPI
    callers: dict[Role, Caller]
    source_tokens: list[str]


def _embedded_app(data_dir: Path) -> tuple[FastAPI, AppContext, list[str]]:
    """The app `socpipe run` serves: SQLite, the demo province, the embedded pipeline."""
    settings = Settings(
        mode=Mode.EMBEDDED,
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=data_dir,
        detection={"rule_dirs": [PACK]},
    )
    backend = build_backend(settings)
    registry_doc, sources = demo_registry()
    backend.store.save_registry(registry_doc)
    registry = RegistryCache(backend.store)
    registry.reload()
    detect = build_detect(settings, backend)
    pipeline = EmbeddedPipeline(backend.store, build_normalize(registry, settings), detect)
    ctx = AppContext(
        settings=settings,
        backend=backend,
        registry=registry,
        submit=EmbeddedSubmit(pipeline),
        health_checks=[backend.store.health],
        detect_engine=detect.engine,
    )
    return create_app(ctx), ctx, list(sources.values())


def _session(app: FastAPI, ctx: AppContext, role: Role) -> Caller:
    """A real console session: the login form, then the CSRF token of the console's forms."""
    with TestClient(app, base_url="https://testserver") as client:
        login(client, ctx.store, role=role)
        page = client.get("/")
        return Caller(
            headers={"X-CSRF-Token": form_csrf(page.text)},
            cookies={
                SESSION_COOKIE: client.cookies[SESSION_COOKIE],
                CSRF_COOKIE: client.cookies[CSRF_COOKIE],
            },
        )


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    app, ctx, sources = _embedded_app(tmp_path_factory.mktemp("fuzz"))
    callers: dict[Role, Caller] = {}
    for role in (Role.ADMIN, Role.ANALYST, Role.POLICE, Role.VIEWER):
        token, _ = create_api_token(store=ctx.store, name=f"fuzz-{role.value}", role=role, actor="fuzz")
        callers[role] = Caller(headers={"Authorization": f"Bearer {token}"})
    callers[Role.INSPECTOR] = _session(app, ctx, Role.INSPECTOR)
    yield Fuzzed(app=app, callers=callers, source_tokens=sources)
    ctx.store.close()


def _operation_test(schema: Any, operation: Any, fuzzed: Fuzzed) -> Any:
    """Schemathesis's three phases for one operation, as the pytest plugin builds them: the
    documented examples, the coverage phase (boundaries, wrong types, missing and extra fields), then
    `MAX_EXAMPLES` random requests valid and invalid. Each request is sent as every role."""

    def run(case: Any) -> None:
        for role, caller in fuzzed.callers.items():
            headers = dict(caller.headers)
            cookies = caller.cookies
            if case.path.startswith("/ingest/"):
                headers, cookies = {"Authorization": f"Bearer {fuzzed.source_tokens[0]}"}, {}
            positive = case.meta is None or case.meta.generation.mode.is_positive
            checks = CHECKS if positive else SERVER_CHECKS
            try:
                case.call_and_validate(headers=headers, cookies=cookies, checks=checks)
            except (Exception, FailureGroup) as exc:
                exc.add_note(f"sent as {role.value}")
                raise

    return create_test(
        operation=operation,
        test_func=run,
        config=HypothesisTestConfig(
            project=schema.config,
            modes=list(HypothesisTestMode),
            settings=hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=DEADLINE,
                suppress_health_check=list(hypothesis.HealthCheck),
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            ),
            feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
        ),
    )


def test_no_operation_answers_a_server_error(fuzzed: Fuzzed) -> None:
    schema = schemathesis.openapi.from_dict(fuzzed.app.openapi())
    schema.app = fuzzed.app
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            _operation_test(schema, operation, fuzzed)()
        except (Exception, FailureGroup) as exc:  # every operation runs; all failures reported at once
            failures.append(f"{operation.label}: {exc}\n{getattr(exc, '__notes__', '')}")
    documented = sum(len(methods) for methods in fuzzed.app.openapi()["paths"].values())
    assert operations == documented >= 70, (operations, documented)
    assert not failures, "\n\n".join(failures)
