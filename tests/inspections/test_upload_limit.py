"""The evidence upload limit (`SOC_MAX_UPLOAD_BYTES`) holds while the body is read (issue #14): a
body over it is refused with 413 after at most the limit (plus the form's framing) was taken in,
and a declared Content-Length over it before anything is read. The form parser used to take the
whole body in (spooling the file to disk) before the limit was looked at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from api.inspections.deps import FORM_OVERHEAD
from soc_core.settings import IngestSettings
from socpipe.app import create_app
from tests.backends import app_context
from tests.inspections.conftest import csrf, upload
from tests.inspections.scenario import Scenario
from tests.problems import problem

LIMIT = 4096
CHUNK = 64 * 1024
BOUNDARY = "socpipe-upload-limit"


@pytest.fixture
def signed_in(scenario: Scenario, tmp_path: Path) -> Iterator[tuple[FastAPI, TestClient]]:
    ctx = app_context(
        scenario.store,
        environment="test",
        data_dir=tmp_path / "data",
        ingest=IngestSettings(max_upload_bytes=LIMIT),
    )
    app = create_app(ctx)
    with TestClient(app, base_url="https://testserver") as client:
        login(client, scenario.store, role=Role.INSPECTOR, username="insp-yte")
        yield app, client


class Sender:
    """A multipart upload of `size` bytes of file, sent chunk by chunk as the app asks for it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def body(self) -> AsyncIterator[bytes]:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.log"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        parts = [head, *([b"x" * CHUNK] * (self.size // CHUNK)), f"\r\n--{BOUNDARY}--\r\n".encode()]
        for part in parts:
            self.sent += len(part)
            yield part


def post_streamed(
    app: FastAPI, client: TestClient, path: str, sender: Sender, **headers: str
) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        signed = {
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            **csrf(client),  # reads /login: after it, the client holds every cookie it needs
            "cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items()),
        }
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as streaming:
            return await streaming.post(path, content=sender.body(), headers={**signed, **headers})

    return asyncio.run(run())


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_upload_over_the_limit_is_413_before_its_body_is_read_whole(
    scenario: Scenario, signed_in: tuple[FastAPI, TestClient]
) -> None:
    app, client = signed_in
    sender = Sender(size=8 * 1024 * 1024)
    resp = post_streamed(app, client, f"/api/v1/inspections/visits/{scenario.visit_recent}/evidence", sender)
    assert "larger than the upload limit" in problem(resp, 413)["detail"]
    assert sender.sent <= LIMIT + FORM_OVERHEAD + CHUNK < sender.size // 10


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_streamed_upload_within_the_limit_reaches_the_handler(
    scenario: Scenario, signed_in: tuple[FastAPI, TestClient]
) -> None:
    app, client = signed_in
    sender = Sender(size=0)  # the form's framing only: an empty file, refused for what it is
    resp = post_streamed(app, client, f"/api/v1/inspections/visits/{scenario.visit_recent}/evidence", sender)
    assert problem(resp, 422)["detail"] == "the file is empty"


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_declared_length_over_the_limit_is_413_with_nothing_read(
    scenario: Scenario, signed_in: tuple[FastAPI, TestClient]
) -> None:
    app, client = signed_in
    sender = Sender(size=8 * 1024 * 1024)
    path = f"/api/v1/inspections/visits/{scenario.visit_recent}/evidence"
    resp = post_streamed(app, client, path, sender, **{"content-length": str(sender.size + 200)})
    assert problem(resp, 413)["status"] == 413
    assert sender.sent == 0


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_console_form_is_bounded_too(scenario: Scenario, signed_in: tuple[FastAPI, TestClient]) -> None:
    app, client = signed_in
    sender = Sender(size=8 * 1024 * 1024)
    resp = post_streamed(app, client, f"/inspections/visits/{scenario.visit_recent}/evidence", sender)
    assert resp.status_code == 413
    assert sender.sent <= LIMIT + FORM_OVERHEAD + CHUNK


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_file_limit_is_exact_and_a_file_within_it_is_kept(
    scenario: Scenario, signed_in: tuple[FastAPI, TestClient]
) -> None:
    _, client = signed_in
    over = upload(client, scenario.visit_recent, "over.log", b"x\n" * (LIMIT // 2 + 1))  # within the framing
    assert "larger than the upload limit" in problem(over, 413)["detail"]
    kept = upload(client, scenario.visit_recent, "ok.log", b"x\n" * (LIMIT // 2))
    assert kept.status_code == 201, kept.text
