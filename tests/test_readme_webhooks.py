"""The README's webhook verification example, run as written against a real delivery: it
accepts what the worker sent and refuses a tampered body or another secret."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asteri.kit.settings import Settings
from tests.factories import create_customer
from tests.receiver import receiving
from tests.webhook_harness import Hooks, webhook_world

README = Path(__file__).parents[1] / "README.md"


def _example() -> Callable[[str, dict[str, str], bytes], Any]:
    text = README.read_text()
    section = text[text.index("### Receiving webhooks") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's Receiving webhooks section has no Python example"
    scope: dict[str, Any] = {}
    exec(compile(match.group(1), "README.md", "exec"), scope)  # noqa: S102 (our own README)
    receive: Callable[[str, dict[str, str], bytes], Any] = scope["receive"]
    return receive


@pytest.fixture(scope="module")
def hooks(settings: Settings, own_database_url: str) -> Iterator[Hooks]:
    with webhook_world(settings, own_database_url) as world:
        yield world


def test_the_readme_example_verifies_a_real_delivery(hooks: Hooks) -> None:
    receive = _example()
    with receiving() as receiver:
        key = hooks.key()
        made = hooks.register(key, receiver.url, ["customer.*"])
        customer = create_customer(hooks.api, key)
        hooks.tick(hooks.worker())
        (got,) = receiver.wait_for(1)
    event = receive(made["secret"], got.headers, got.body)
    assert event is not None
    assert (event["type"], event["data"]["object"]["id"]) == ("customer.created", customer["id"])
    assert receive(made["secret"], got.headers, got.body.replace(b"customer", b"cUstomer")) is None
    other = hooks.register(key, receiver.url, ["customer.*"])["secret"]
    assert receive(other, got.headers, got.body) is None
