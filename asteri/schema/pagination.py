"""Cursor connections: ``nodes`` plus ``pageInfo``; cursors are opaque keyset positions."""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from asteri.kit.pagination import Page, check_page_size
from asteri.kit.settings import get_settings

__all__ = ["Connection", "PageInfo", "page_size"]

T = TypeVar("T")


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to fetch the next page. Null on an empty page."
    )


@strawberry.type
class Connection(Generic[T]):
    nodes: list[T]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page[Any], convert: Callable[[Any], T]) -> "Connection[T]":
        return cls(
            nodes=[convert(item) for item in page.items],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


def page_size(first: int) -> int:
    return check_page_size(first, maximum=get_settings().max_page_size)
