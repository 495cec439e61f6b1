"""Message ids: one per (event, endpoint), the same on every attempt, unlinkable without the key."""

from asteri.kit.ids import IdPrefix, new_public_id, parse_public_id
from asteri.webhooks.ids import MESSAGE_PREFIX, message_id

KEY = b"a server-side key"


def test_stable_for_one_event_and_endpoint() -> None:
    event, endpoint = new_public_id(IdPrefix.EVENT), new_public_id("we")
    first = message_id(event, endpoint, key=KEY)
    assert all(message_id(event, endpoint, key=KEY) == first for _ in range(5))
    assert first.startswith("msg_")
    assert len(first) == len("msg_") + 22
    assert parse_public_id(first, MESSAGE_PREFIX) == first


def test_distinct_per_event_per_endpoint_and_per_key() -> None:
    events = [new_public_id(IdPrefix.EVENT) for _ in range(20)]
    endpoints = [new_public_id("we") for _ in range(20)]
    ids = {message_id(e, p, key=KEY) for e in events for p in endpoints}
    assert len(ids) == 400
    e, p = events[0], endpoints[0]
    assert message_id(e, p, key=KEY) != message_id(e, p, key=b"another key")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert message_id("ab", "c", key=KEY) != message_id("a", "bc", key=KEY)
    assert message_id(e, p, key=KEY) != message_id(p, e, key=KEY)


def test_an_id_does_not_contain_the_public_ids() -> None:
    event, endpoint = new_public_id(IdPrefix.EVENT), new_public_id("we")
    mid = message_id(event, endpoint, key=KEY)
    assert event.split("_")[1] not in mid
    assert endpoint.split("_")[1] not in mid
