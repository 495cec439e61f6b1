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

__all__ = [
    "IF_MATCH_PATTERN",
    "IF_NONE_MATCH_PATTERN",
    "NEVER",
    "etag",
    "expected_version",
    "not_modified",
]

# One entity-tag of RFC 9110 §8.8.3: optional W/, then a quoted string of visible ASCII but
# `"` (the obsolete non-ASCII octets are refused: we never issue them). The headers' patterns
# are what we parse, and what the OpenAPI document declares.
_TAG = r'(?:W/)?"[!#-~]*"'
IF_MATCH_PATTERN = rf"^[ \t]*(?:\*|{_TAG})[ \t]*$"  # `*` or one tag: one version is checked
IF_NONE_MATCH_PATTERN = rf"^[ \t]*(?:\*|{_TAG}(?:[ \t]*,[ \t]*{_TAG})*)[ \t]*$"
_ONE_TAG = re.compile(r'(W/)?"([!#-~]*)"')
NEVER = -1  # an expected version no object has: a tag that cannot match gets its 412


def etag(version: int) -> str:
    return f'"{version}"'


def _tags(header: str, name: str, pattern: str) -> list[tuple[bool, str]]:
    """(weak, opaque value) of each entity-tag in the header, or a 400 if it breaks
    ``pattern``."""
    if re.fullmatch(pattern, header) is None:
        raise BadRequest(
            f'`{name}` must be `*` or entity tags such as `"3"`, as an `ETag` header gives.',
            reason="invalid_precondition",
        )
    return [(m.group(1) is not None, m.group(2)) for m in _ONE_TAG.finditer(header)]


def expected_version(request: Request) -> int | None:
    """The version ``If-Match`` requires, None without one (or with ``*``: the object need
    only exist). One entity tag only (a list is a 400): the mutation checks one version, and
    the ``ETag`` it would match is the one a read gave. A weak tag, or one we
    never issued, cannot match strongly: ``NEVER``, which the object's check refuses (412)."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = _tags(header, "If-Match", IF_MATCH_PATTERN)
    if not tags:  # `*`
        return None
    ((weak, value),) = tags
    if weak or not value.isdigit() or len(value) > 9:  # a GraphQL Int holds 9 digits
        return NEVER
    return int(value)


def not_modified(request: Request, current: str) -> bool:
    """Whether ``If-None-Match`` names ``current`` (weak comparison) or is ``*``."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = _tags(header, "If-None-Match", IF_NONE_MATCH_PATTERN)
    return not tags or any(f'"{value}"' == current for _weak, value in tags)
