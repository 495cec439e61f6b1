"""Which events an endpoint receives: its ``event_types`` are exact names
(``appointment.completed``) or a resource's wildcard (``customer.*``). One rule, in two forms:
``matches`` for one event in Python (the worker's fan-out) and ``split`` for a SQL filter
(``replay_missing``), which ``tests/test_webhook_subscriptions.py`` holds to the same answers."""

import re
from collections.abc import Iterable

__all__ = ["PATTERN", "matches", "split"]

WILDCARD = "*"
# ``resource.verb`` or ``resource.*``: lower-case words joined by underscores.
PATTERN = r"^[a-z][a-z_]*\.([a-z][a-z_]*|\*)$"
_PATTERN = re.compile(PATTERN)


def is_pattern(value: str) -> bool:
    return _PATTERN.fullmatch(value) is not None


def split(patterns: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(exact event types, resources whose every event is wanted)."""
    exact, resources = set(), set()
    for pattern in patterns:
        resource, _, verb = pattern.partition(".")
        if verb == WILDCARD:
            resources.add(resource)
        else:
            exact.add(pattern)
    return frozenset(exact), frozenset(resources)


def matches(event_type: str, patterns: Iterable[str]) -> bool:
    exact, resources = split(patterns)
    return event_type in exact or event_type.partition(".")[0] in resources
