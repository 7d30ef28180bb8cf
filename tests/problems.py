"""What every error answer of the JSON API must look like (RFC 9457 problem details, `api.problems`)."""

from __future__ import annotations

from typing import Any

import httpx


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of `resp`, after checking its status, media type and members."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json", resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and isinstance(body["title"], str), body
    assert body["type"].startswith("/problems/") or body["type"] == "about:blank", body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert set(body) <= {"type", "title", "status", "detail", "instance", "errors", "reason"}, body
    for item in body.get("errors", []):
        assert set(item) == {"location", "message"}, item
    return body
