"""schemathesis against the REST facade, the way an integrator runs it: its CLI, every check
(``--checks all``), every phase (examples, coverage, fuzzing, and the stateful phase, which
follows the document's OpenAPI links from a create to the object's reads, updates, deletes and
actions), time-bounded, against a real server on this backend's database. 0 failures.

Two runs: an all-scopes key for the organization's data, and an owner's session for the
security center (``/api_keys``, which refuses every key). What differs from schemathesis'
defaults, and why, is in ``tests/schemathesis/``: one expected status (412) and unique
Idempotency-Keys. The failed-authentication limiter is raised for the run: schemathesis' own
invalid-credential probes would otherwise have it refuse the loopback address.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asteri.app import API_PREFIX, create_app
from asteri.kit.settings import Settings
from tests.factories import Api, Bearer, Credential
from tests.servers import serving

HERE = Path(__file__).parent / "schemathesis"
SEED = 20260101
SECURITY_CENTER = "/api_keys"
PHASES = ("Examples", "Coverage", "Fuzzing", "Stateful")


@pytest.fixture(scope="module")
def base_url(settings: Settings) -> Iterator[str]:
    fuzzed = settings.model_copy(update={"auth_failures_per_minute": 1_000_000})
    with serving(create_app(fuzzed)) as url:
        yield url


def _config(credential: Credential, directory: Path) -> Path:
    """Our schemathesis settings plus the run's credential, as the document's security scheme
    (so that the missing-credential check can take it away, which a plain header would not)."""
    if isinstance(credential, Bearer):
        auth = f'[auth.openapi.Bearer]\nbearer = "{credential.key}"\n'
    else:
        auth = f'[auth.openapi.ApiKey]\napi_key = "{credential.key}"\n'
    path = directory / "schemathesis.toml"
    path.write_text((HERE / "schemathesis.toml").read_text() + "\n" + auth)
    return path


def _run(
    base_url: str, credential: Credential, seconds: int, directory: Path, *selection: str
) -> str:
    """One schemathesis run; its report (a failure fails the test with the report)."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(_config(credential, directory)),
        "run",
        f"{base_url}{API_PREFIX}/openapi.json",
        "--checks",
        "all",
        "--phases",
        ",".join(p.lower() for p in PHASES),
        "--max-time",
        str(seconds),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--no-color",
        *selection,
    ]
    # The organization is a required header the document declares: the hooks give it its
    # value where schemathesis sends it, not to every request, so that the missing-header
    # check can take it away.
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis.hooks",
        "ASTERI_FUZZ_ORGANIZATION": credential.organization_id,
    }
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds * 4 + 120, env=env, check=False
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-20_000:]
    return report


def _summary(report: str) -> str:
    cases = re.search(r"Test cases:\s*\n\s*(.+)", report)
    assert cases is not None, report[-5_000:]
    return cases.group(1).strip()


def _check_phases(report: str) -> None:
    """Every phase ran and passed: none skipped or 'not applicable' (no links, no data)."""
    for phase in PHASES:
        assert re.search(rf"✅ {phase}\b", report), f"{phase} did not pass:\n{report[-5_000:]}"


def test_the_organizations_data(api: Api, base_url: str, tmp_path: Path) -> None:
    key = api.key()
    report = _run(base_url, key, 60, tmp_path, "--exclude-path-regex", SECURITY_CENTER)
    _check_phases(report)
    print(f"\nschemathesis, data routes: {_summary(report)}")


def test_the_security_center(api: Api, base_url: str, tmp_path: Path) -> None:
    owner = api.session(org_key=api.key())
    report = _run(base_url, owner, 25, tmp_path, "--include-path-regex", SECURITY_CENTER)
    _check_phases(report)
    print(f"\nschemathesis, security center: {_summary(report)}")
