"""Following a listing of the JSON API page by page (`api.paging`), checking each page's shape."""

from __future__ import annotations

from typing import Any

import httpx


def pages(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of `path`, from the first to the one without `next_cursor`."""
    found: list[dict[str, Any]] = []
    cursor = None
    while len(found) < 1000:
        resp = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        assert {"items", "next_cursor", "total"} <= set(page), page
        found.append(page)
        cursor = page["next_cursor"]
        if not cursor:
            return found
    raise AssertionError(f"{path} never reached its last page")


def items(client: httpx.Client, path: str, **params: Any) -> list[Any]:
    """Every item of `path`, page after page, checking that no item comes twice and `total` holds."""
    walked = pages(client, path, **params)
    every = [item for page in walked for item in page["items"]]
    assert {page["total"] for page in walked} == {len(every)}, [p["total"] for p in walked]
    assert len({repr(item) for item in every}) == len(every)
    return every
