"""Conditional requests (RFC 9110 §13) over each object's ``version``.

An object's ``ETag`` is its version, quoted: ``"3"``. A strong validator: the version changes
with every change to the object's own fields (``models.base.Versioned``), so two answers with
one ``ETag`` carry the same object. ``If-None-Match`` on a read compares weakly and gets a 304;
``If-Match`` on a change compares strongly (a weak ``W/"3"`` never matches) and becomes the
mutation's ``expectedVersion``, checked under the object's lock, so a stale one gets a 412.
"""

import re

from starlette.requests import Request

from asteri.kit.errors import BadRequest

__all__ = ["NEVER", "etag", "expected_version", "not_modified"]

# One entity-tag of RFC 9110 §8.8.3: optional W/, then a quoted string of etagc characters.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
NEVER = -1  # an expected version no object has: a tag that cannot match gets its 412


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str, name: str) -> list[tuple[bool, str]]:
    """(weak, opaque value) of each entity-tag in a list header, or a 400 if it is not one."""
    found: list[tuple[bool, str]] = []
    position = 0
    header = header.strip()
    while position < len(header):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            raise BadRequest(
                f'`{name}` must be `*` or entity tags such as `"3"`, as an `ETag` header gives.',
                reason="invalid_precondition",
            )
        found.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    return found


def expected_version(request: Request) -> int | None:
    """The version ``If-Match`` requires, None without one (or with ``*``: the object need
    only exist). One entity tag only: the mutation checks one version. A weak tag, or one we
    never issued, cannot match strongly: ``NEVER``, which the object's check refuses (412)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tags = _tags(header, "If-Match")
    if len(tags) != 1:
        raise BadRequest(
            "`If-Match` takes one entity tag here: the object's `ETag`.",
            reason="invalid_precondition",
        )
    weak, value = tags[0]
    if weak or not value.isdigit() or len(value) > 9:  # a GraphQL Int holds 9 digits
        return NEVER
    return int(value)


def not_modified(request: Request, current: str) -> bool:
    """Whether ``If-None-Match`` names ``current`` (weak comparison) or is ``*``."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(f'"{value}"' == current for _weak, value in _tags(header, "If-None-Match"))
