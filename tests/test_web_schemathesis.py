"""The web API against its own OpenAPI schema: schemathesis, every phase, with and without a token.

Schemathesis generates requests from ``/openapi.json`` (examples, boundary
values of every parameter, random and schema-breaking input, sequences of
calls) and checks each answer: no 500, status codes and bodies as the schema
documents them, schema-valid requests accepted, invalid ones refused, 401
without the token when the schema says a token is needed, 405 with ``Allow``
for undocumented methods. The app runs in process (ASGI, no network) with a
fixed seed and a bounded number of examples, so the run is repeatable and
takes seconds. It must find nothing.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install 'matcher[web]')")
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra (pip install 'matcher[test]')")

from matcher.persistence import load_model  # noqa: E402
from matcher.web import create_app  # noqa: E402

SEED = 0
MAX_EXAMPLES = 10
TOKEN = "schemathesis-token-0123456789"


def _run(app, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Run every phase against ``app``; the number of scenarios and a line per failure or error."""
    from schemathesis.engine import Status, events, from_schema

    config = schemathesis.Config()
    config.update(seed=SEED, max_failures=None)
    # A tokenless server answers only loopback Host names, so the requests name 127.0.0.1.
    config.projects.override.update(base_url="http://127.0.0.1", headers=headers or None)
    config.projects.override.generation.update(max_examples=MAX_EXAMPLES, database="none")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config, headers={"Host": "127.0.0.1", **headers})
    scenarios, problems = 0, []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += event.status != Status.SKIP
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        case = event.recorder.cases[case_id].value
                        problems.append(f"{event.label}: {check.name}: {check.failure_info.failure if check.failure_info else ''}"
                                        f" [{getattr(event.recorder.cases[case_id].value, 'path_parameters', None)}]"
                                        f" (query {case.query!r}, body {case.body!r})")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            info = getattr(event, "info", event)
            problems.append(f"error: {getattr(event, 'label', '')} {getattr(info, 'message', '')} {getattr(info, 'title', '')} "
                            f"{getattr(info, 'traceback', '') or info!r}"[:3000])
    return scenarios, problems


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_schemathesis_finds_nothing(model_file, tmp_path, token):
    app = create_app(load_model(model_file), model_file, tmp_path / "outreach.db", token=token)
    scenarios, problems = _run(app, {"Authorization": f"Bearer {token}"} if token else {})
    assert scenarios >= 30  # every operation, in every phase
    assert problems == []
