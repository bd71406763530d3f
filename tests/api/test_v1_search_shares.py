"""How a search chooses its way (storage/search.py): the words' shares of messages, from
PostgreSQL's statistics or from a sample of the newest messages, decide whether the newest
messages are walked first and which words the index is asked for. On both databases."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from chatd.storage import search as stored_search
from tests.api.v1_helpers import Api, User, create_chat, ok, send, sign_up_many

FILLERS = 60  # messages "common fillerN": "common" in every one, each "fillerN" in one


async def _seed(api: Api) -> User:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = int((await create_chat(api.http, alice, "general", [bob]))["id"])
    for n in range(FILLERS):
        await send(api.http, alice, chat, f"common filler{n}")
    if api.store.db.sql.name == "postgresql":
        await api.execute(sa.text("ANALYZE messages"))  # what autovacuum does as a table grows
    return bob


async def test_shares_come_from_the_statistics_or_a_sample_of_the_newest_messages(
    api: Api,
) -> None:
    await _seed(api)
    shares = await api.store.db.read(stored_search.WordShares().get, api.store.db.sql)
    assert shares.of("common") == pytest.approx(1.0, abs=0.05)
    assert shares.of("filler7") < 0.05
    assert shares.of("absent") == 0.0
    # A prefix: the words it begins.
    assert shares.begun("comm") == pytest.approx(1.0, abs=0.05)
    assert shares.begun("filler7") < 0.05
    assert shares.begun("fill") == pytest.approx(1.0, abs=0.1)
    assert shares.begun("zz") == 0.0


async def test_a_rare_word_is_read_from_the_index_and_a_common_one_walked_first(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = await _seed(api)
    ways: list[tuple[str, Any]] = []
    walk, indexed = stored_search._walk, stored_search._indexed

    def walked(*args: Any) -> Any:
        ways.append(("walk", None))
        return walk(*args)

    def index_read(*args: Any) -> Any:
        search, asked = args[2], args[5]
        ways.append(("index", [search.words[place] for place in asked]))
        return indexed(*args)

    monkeypatch.setattr(stored_search, "_walk", walked)
    monkeypatch.setattr(stored_search, "_indexed", index_read)

    async def texts(q: str) -> list[str]:
        ways.clear()
        found = ok(await api.http.get("/api/v1/search", params={"q": q}, headers=bob.auth))
        return [result["message"]["text"] for result in found["results"]]

    # Every message holds it: the newest fill the page.
    assert len(await texts("common")) == 20
    assert ways == [("walk", None)]
    # One message holds "filler7…": straight to the index, asked for it only ("common" is
    # checked on what it finds).
    assert await texts("common filler7") == ["common filler7"]
    assert ways == [("index", ["filler7"])]
    assert await texts("filler7 comm") == ["common filler7"]
    assert ways == [("index", ["filler7"])]


async def test_a_search_in_one_chat_walks_that_chats_newest_messages(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    old = int((await create_chat(api.http, alice, "old", [bob]))["id"])
    busy = int((await create_chat(api.http, alice, "busy", [bob]))["id"])
    sent = [await send(api.http, alice, old, f"hello old {n}") for n in range(3)]
    for n in range(4):
        await send(api.http, alice, busy, f"hello busy {n}")
    # The walk reads 2 messages: of the chat searched, not the 2 newest of all (busy's).
    monkeypatch.setattr(stored_search, "RECENT", 2)
    monkeypatch.setattr(stored_search, "_walks_first", lambda share, limit: True)
    indexed = stored_search._indexed
    calls: list[int] = []

    def index_read(*args: Any) -> Any:
        calls.append(1)
        return indexed(*args)

    monkeypatch.setattr(stored_search, "_indexed", index_read)
    query = {"q": "hello", "chat": old, "limit": 1}
    found = ok(await api.http.get("/api/v1/search", params=query, headers=bob.auth))
    assert [r["message"]["id"] for r in found["results"]] == [sent[2]["id"]]
    assert calls == []  # the page was filled by the walk
    # The next page starts below the walked ones: the index finds the oldest.
    query |= {"limit": 5, "cursor": found["next_cursor"]}
    found = ok(await api.http.get("/api/v1/search", params=query, headers=bob.auth))
    assert [r["message"]["id"] for r in found["results"]] == [m["id"] for m in sent[1::-1]]
