"""The reference's page shape ({data, totalPages, totalElements, hasNext}) for any query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridlinks.core.errors import BadRequest

MAX_PAGE_SIZE = 1000
# page * pageSize becomes an SQL OFFSET, a signed 64-bit integer in both databases; no
# real listing is near this, and a bigger number is refused before it reaches SQL.
MAX_OFFSET = 2**31


@dataclass
class Page:
    rows: list[Any]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return (self.total + self.page_size - 1) // self.page_size if self.page_size else 0

    def to_json(self, render) -> dict[str, Any]:
        return {"data": [render(r) for r in self.rows], "totalPages": self.total_pages,
                "totalElements": self.total, "hasNext": (self.page + 1) * self.page_size < self.total}


def parse_paging(page: Any, page_size: Any) -> tuple[int, int]:
    try:
        page_i = int(page if page not in (None, "") else 0)
        size_i = int(page_size if page_size not in (None, "") else 10)
    except (TypeError, ValueError):
        raise BadRequest("page and pageSize must be whole numbers") from None
    if page_i < 0 or not 1 <= size_i <= MAX_PAGE_SIZE:
        raise BadRequest(f"page must be >= 0 and pageSize between 1 and {MAX_PAGE_SIZE}")
    if page_i * size_i > MAX_OFFSET:
        raise BadRequest(f"page * pageSize must be at most {MAX_OFFSET}")
    return page_i, size_i


async def page_of(query, page: int, page_size: int) -> Page:
    total = await query.count()
    rows = await query.offset(page * page_size).limit(page_size)
    return Page(list(rows), total, page, page_size)
