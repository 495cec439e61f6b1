"""Every example in the README and the portal's guides, run as written against a live server,
so none can rot.

The ``sh`` blocks run in order in one bash shell (``KEY`` and ``ORG`` set, as the README asks
of its reader; ``http://127.0.0.1:8000`` pointed at the test's server), every ``curl`` made
to fail on an HTTP error, so an example that answers 4xx or 5xx fails here. Each ``graphql``
block is POSTed as a query with the same key and must answer data without errors. A curl
example written outside a fenced block would escape this, so there must be none.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from asteri.app import create_app
from asteri.kit.settings import Settings
from asteri.portal.index import GUIDES_DIR
from asteri.schema.operations import ROUTES
from tests.factories import REST, Api
from tests.servers import serving

README = Path(__file__).parents[1] / "README.md"
DOCUMENTS = [README, *sorted(GUIDES_DIR.glob("*.md"))]
DOCUMENTED_BASE = "http://127.0.0.1:8000"
PRELUDE = (
    "set -euo pipefail\n"
    'curl() { command curl --fail-with-body --silent --show-error "$@" && echo; }'
)
_BLOCK = re.compile(r"^```(sh|graphql)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(kind: str) -> list[str]:
    """Every ``kind`` block of the README, then of each guide, in order."""
    return [
        body
        for document in DOCUMENTS
        for found, body in _BLOCK.findall(document.read_text())
        if found == kind
    ]


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


def _shell(base_url: str) -> str:
    """The README's ``sh`` blocks as one script, each announced, every curl failing on an
    HTTP error (``--fail-with-body``: exit 22 on 4xx and 5xx, with the body printed)."""
    lines = [PRELUDE]
    for number, block in enumerate(_blocks("sh"), 1):
        lines += [f"echo '--- README sh block {number}'", block.replace(DOCUMENTED_BASE, base_url)]
    return "\n".join(lines)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_curl_example_is_in_a_tested_block(document: Path) -> None:
    text = document.read_text()
    fenced = "".join(body for _, body in _BLOCK.findall(text))
    outside = [
        line
        for line in text.splitlines()
        if line.lstrip().startswith("curl ") and line not in fenced
    ]
    assert outside == [], "curl examples outside a tested sh block"
    assert len(_blocks("sh")) >= 5
    assert len(_blocks("graphql")) >= 2


def test_every_sh_example_runs_against_a_live_server(api: Api, base_url: str) -> None:
    key = api.key()
    done = _run(_shell(base_url), {"KEY": key.key, "ORG": key.organization_id})
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    announced = done.stdout.count("--- README sh block")
    assert announced == len(_blocks("sh")), done.stdout
    assert '"object": "list"' in done.stdout or '"object":"list"' in done.stdout


def test_an_example_that_answers_an_http_error_fails_the_run(base_url: str) -> None:
    """The harness itself: a 401 (no key), even inside a command substitution, stops the
    script with curl's exit code 22."""
    script = f"{PRELUDE}\nX=$(curl {base_url}{REST}/customers | cat)\necho reached"
    done = _run(script, {})
    assert (done.returncode, "reached" in done.stdout) == (22, False), done.stdout


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bash, curl = shutil.which("bash"), shutil.which("curl")
    assert bash is not None, "bash runs the README's examples"
    assert curl is not None, "curl runs the README's examples (.ci/run installs it)"
    return subprocess.run(
        [bash, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "PATH": os.environ["PATH"]},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("number", range(len(_blocks("graphql"))))
def test_every_graphql_example_answers_data_without_errors(
    api: Api, base_url: str, number: int
) -> None:
    key = api.key()
    document = _blocks("graphql")[number]
    answer = httpx.post(
        f"{base_url}{REST}/graphql",
        json={"query": document},
        headers=key.headers(),
        timeout=30,
    )
    body = answer.json()
    assert answer.status_code == 200, body
    assert "errors" not in body, body["errors"]
    assert body["data"], body


def test_the_readme_route_table_names_every_route_served() -> None:
    """Each operation of the route table is in the README's table: by name, or inside a
    range ``DispatchAppointment … UnassignAppointment`` of its collection's row."""
    rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    for route in ROUTES:
        collection = "/" + route.path.split("/")[1]
        row = [r for r in rows if f"{collection}`" in r or f"{collection}/" in r]
        assert row, f"{collection} has no row in the README's route table"
        named = any(route.operation in r for r in row)
        ranged = any("…" in r for r in row)
        assert named or ranged, f"{route.operation} is not in the README's route table"
