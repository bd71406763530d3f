"""One reader of what clients send (api/bodies.py): a body that is not a JSON object is refused
alike by an Avito method and a v1 route (the same 400, to the byte), and a stream frame like it
closes the socket with 4002 and the same sentence, said of a frame."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.helpers import assert_error
from tests.api.v1_helpers import Api

NOT_AN_OBJECT = {
    "empty": (b"", "empty_body"),
    "blank": (b" \n\t", "empty_body"),
    "open_brace": (b"{", "malformed_json"),
    "word": (b"not json", "malformed_json"),
    "trailing_comma": (b'{"username": "alice",}', "malformed_json"),
    "trailing_text": (b'{"username": "alice"} trailing', "malformed_json"),
    "too_deep": (b"[" * 5000 + b"]" * 5000, "malformed_json"),
    "array": (b"[]", "invalid_body"),
    "string": (b'"alice"', "invalid_body"),
    "number": (b"17", "invalid_body"),
    "null": (b"null", "invalid_body"),
}


async def _stream_closing(app: FastAPI, frame: str) -> tuple[int, str]:
    """The close code and reason the stream answers `frame`, sent first, with: the ASGI
    conversation of a client that connects and sends it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    inbox.put_nowait({"type": "websocket.receive", "text": frame})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/api/v1/ws",
        "raw_path": b"/api/v1/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"chatd")],
        "client": ("127.0.0.1", 40000),
        "server": ("chatd", 80),
        "scheme": "ws",
        "subprotocols": [],
    }
    await asyncio.wait_for(app(scope, inbox.get, send), 5)
    closing = [message for message in sent if message["type"] == "websocket.close"]
    assert len(closing) == 1, sent
    return closing[0]["code"], closing[0]["reason"]


@pytest.mark.parametrize(("raw", "code"), NOT_AN_OBJECT.values(), ids=NOT_AN_OBJECT.keys())
async def test_a_body_that_is_not_an_object_is_refused_alike_by_both_apis_and_the_stream(
    api: Api, raw: bytes, code: str
) -> None:
    headers = {"content-type": "application/json"}
    avito = await api.http.post("/users/add", content=raw, headers=headers)
    assert assert_error(avito, 400)["code"] == code
    v1 = await api.http.post("/api/v1/users", content=raw, headers=headers)
    assert (v1.status_code, v1.content) == (avito.status_code, avito.content)
    message = avito.json()["error"]["message"]
    assert message.startswith("request body ")
    closing = await _stream_closing(api.app, raw.decode())
    assert closing == (4002, message.replace("request body", "frame", 1))
