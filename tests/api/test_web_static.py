"""The web client's files: gzip-compressed for clients that accept it (compressed once per version
of a file, not per request), HEAD answered like GET, and the API's responses left alone."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from chatd.api import web
from chatd.api.web import STATIC, ClientFiles, accepts_gzip
from tests.api.helpers import add_chat, add_user

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
# Headers that differ between any two responses, whatever was asked.
PER_RESPONSE = {"date", "x-request-id"}


@pytest.fixture
def migrated_url(sqlite_template: Path, tmp_path: Path) -> str:
    """One database is enough here: nothing in these tests is stored."""
    path = tmp_path / "chatd.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def _client_files() -> dict[str, bytes]:
    """Every file of the web client by its URL, `/` being index.html."""
    files = {
        f"/app/{path.relative_to(STATIC).as_posix()}": path.read_bytes()
        for path in sorted(STATIC.rglob("*"))
        if path.is_file()
    }
    return {"/": files["/app/index.html"], **files}


async def _raw(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], method: str = "GET"
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent (httpx would decompress it)."""
    async with client.stream(method, path, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


async def test_every_client_file_is_sent_gzipped_to_a_client_that_accepts_it(
    client: httpx.AsyncClient,
) -> None:
    for path, stored in _client_files().items():
        response, body = await _raw(client, path, GZIP)
        assert response.status_code == 200, path
        assert response.headers["content-encoding"] == "gzip", path
        assert response.headers["vary"] == "Accept-Encoding", path
        assert int(response.headers["content-length"]) == len(body), path
        assert "accept-ranges" not in response.headers, path
        assert len(body) < len(stored), path
        assert gzip.decompress(body) == stored, path


async def test_every_client_file_is_sent_as_stored_without_gzip(
    client: httpx.AsyncClient,
) -> None:
    for path, stored in _client_files().items():
        response, body = await _raw(client, path, IDENTITY)
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path
        assert response.headers["vary"] == "Accept-Encoding", path
        assert int(response.headers["content-length"]) == len(stored), path
        assert body == stored, path


async def test_the_client_is_smaller_gzipped(client: httpx.AsyncClient) -> None:
    files = _client_files()
    del files["/"]
    sent = [len((await _raw(client, path, GZIP))[1]) for path in files]
    # Text compresses to well under half; the measure is in docs/decisions.md.
    assert sum(sent) < sum(map(len, files.values())) / 2


async def test_head_answers_with_the_headers_of_get_and_no_body(client: httpx.AsyncClient) -> None:
    for path in _client_files():
        for asked in (GZIP, IDENTITY):
            got, _ = await _raw(client, path, asked)
            head, body = await _raw(client, path, asked, method="HEAD")
            assert head.status_code == 200, (path, asked)
            assert body == b"", (path, asked)
            expected = {k: v for k, v in got.headers.items() if k not in PER_RESPONSE}
            assert {k: v for k, v in head.headers.items() if k not in PER_RESPONSE} == expected


async def test_the_two_encodings_have_their_own_etags_and_revalidate(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/app/main.js"):
        zipped, _ = await _raw(client, path, GZIP)
        plain, _ = await _raw(client, path, IDENTITY)
        assert zipped.headers["etag"] != plain.headers["etag"]
        for response, asked in ((zipped, GZIP), (plain, IDENTITY)):
            again = {**asked, "If-None-Match": response.headers["etag"]}
            unchanged, body = await _raw(client, path, again)
            assert (unchanged.status_code, body) == (304, b"")
            assert unchanged.headers["etag"] == response.headers["etag"]
            assert unchanged.headers["vary"] == "Accept-Encoding"
        # A cache holding the plain file asks again while accepting gzip: it gets gzip.
        other = {**GZIP, "If-None-Match": plain.headers["etag"]}
        assert (await _raw(client, path, other))[0].status_code == 200


async def test_a_range_is_a_range_of_the_stored_file(client: httpx.AsyncClient) -> None:
    stored = _client_files()["/app/main.js"]
    response, body = await _raw(client, "/app/main.js", {**GZIP, "Range": "bytes=0-9"})
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert body == stored[:10]


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("", False),
        ("identity", False),
        ("br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(accept_encoding: str, accepted: bool) -> None:
    assert accepts_gzip(accept_encoding) is accepted


async def test_api_responses_are_never_compressed(client: httpx.AsyncClient) -> None:
    alice = await add_user(client, "alice")
    chats = [
        await add_chat(client, f"chat with a long enough name {n}", [alice]) for n in range(30)
    ]
    for method, path, body in (
        ("POST", "/chats/get", {"user": alice}),
        ("POST", "/messages/get", {"chat": chats[0]}),
        ("GET", "/openapi.json", None),
        ("GET", "/healthz", None),
    ):
        response = await client.request(method, path, json=body, headers=GZIP)
        assert response.status_code == 200, path
        assert "content-encoding" not in response.headers, path
        assert "vary" not in response.headers, path
    listing = await client.post("/chats/get", json={"user": alice}, headers=GZIP)
    assert len(listing.content) > 2_000  # long enough that a GZipMiddleware would have acted


# Once per version of a file: a small app of its own, over a directory the test may change.


@pytest.fixture
async def files_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    compressed: list[str] = []
    real = web._gzip

    def counted(path: str, size: int) -> bytes | None:
        compressed.append(Path(path).name)
        return real(path, size)

    monkeypatch.setattr(web, "_gzip", counted)
    app = Starlette(routes=[Mount("/", ClientFiles(tmp_path))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://chatd") as http:
        yield http, compressed


async def test_a_file_is_compressed_once_per_version(
    files_client: tuple[httpx.AsyncClient, list[str]], tmp_path: Path
) -> None:
    http, compressed = files_client
    script = tmp_path / "a.js"
    script.write_text("console.log('first');\n" * 100)
    for _ in range(5):
        response, body = await _raw(http, "/a.js", GZIP)
        assert gzip.decompress(body) == script.read_bytes()
        await _raw(http, "/a.js", IDENTITY)
    assert compressed == ["a.js"]
    script.write_text("console.log('second, longer');\n" * 100)
    response, body = await _raw(http, "/a.js", GZIP)
    assert gzip.decompress(body) == script.read_bytes()
    assert int(response.headers["content-length"]) == len(body)
    assert compressed == ["a.js", "a.js"]


async def test_what_would_not_shrink_or_is_not_text_goes_as_stored(
    files_client: tuple[httpx.AsyncClient, list[str]], tmp_path: Path
) -> None:
    http, compressed = files_client
    (tmp_path / "tiny.css").write_text("a{}")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG" + b"\0" * 1000)
    tiny, body = await _raw(http, "/tiny.css", GZIP)
    assert "content-encoding" not in tiny.headers
    assert body == b"a{}"
    image, body = await _raw(http, "/logo.png", GZIP)
    assert "content-encoding" not in image.headers
    assert "vary" not in image.headers
    assert compressed == ["tiny.css"]
