"""API v1 search: words in any order, the last a prefix, any case and script; only the caller's
chats (every chat for a moderator who asks); deleted messages never, edited ones by their new
text; pages newest first; the found words marked by code point offsets. On both databases."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from chatd.storage import search as stored_search
from tests.api.helpers import assert_error
from tests.api.v1_helpers import MESSAGE_KEYS, Api, User, create_chat, ok, send, sign_up_many


@pytest.fixture(autouse=True, params=["walk", "index", "both", "common-words", "common-prefix"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test through each way a search reads (storage/search.py): the newest messages
    walked and matched in Python; the database's index alone; both, with the boundary between
    them among the test's few messages; and the index asked for some of the words only, the
    others checked on the rows it finds: the whole words left out, as words most messages hold
    are, or the last word, the prefix."""
    reading = str(request.param)
    monkeypatch.setattr(stored_search, "RECENT", {"walk": 10**9, "both": 2}.get(reading, 0))
    walks = reading in ("walk", "both")
    monkeypatch.setattr(stored_search, "_walks_first", lambda share, limit: walks)
    if reading.startswith("common-"):
        whole, prefix = (1.0, 0.0) if reading == "common-words" else (0.0, 1.0)
        monkeypatch.setattr(stored_search.Shares, "of", lambda self, word: whole)
        monkeypatch.setattr(stored_search.Shares, "begun", lambda self, word: prefix)
    return reading


async def _search(api: Api, user: User, q: str, **query: Any) -> Any:
    return await api.http.get("/api/v1/search", params={"q": q, **query}, headers=user.auth)


async def _texts(api: Api, user: User, q: str, **query: Any) -> list[str]:
    found = ok(await _search(api, user, q, **query))
    return [result["message"]["text"] for result in found["results"]]


async def _chat(api: Api, owner: User, *others: User) -> int:
    return int((await create_chat(api.http, owner, "general", list(others)))["id"])


async def test_words_match_in_any_order_case_insensitively_and_the_last_as_a_prefix(
    api: Api,
) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    sent = await send(api.http, alice, chat, "Meet me in Prague tomorrow")
    await send(api.http, bob, chat, "Prague is far")
    await send(api.http, bob, chat, "see you")

    found = ok(await _search(api, bob, "TOMORROW prag"))
    assert [r["message"] for r in found["results"]] == [sent]
    assert sorted(found["results"][0]["message"]) == MESSAGE_KEYS
    assert found["next_cursor"] is None
    assert await _texts(api, bob, "prague") == ["Prague is far", "Meet me in Prague tomorrow"]
    # Only the last word is a prefix.
    assert await _texts(api, bob, "prag far") == []
    assert await _texts(api, bob, "tomorrow pra") == ["Meet me in Prague tomorrow"]


async def test_cyrillic_is_found_by_words_in_any_order_and_by_a_prefix(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    await send(api.http, alice, chat, "Привет, мир")
    await send(api.http, alice, chat, "Мирный день")
    assert await _texts(api, bob, "мир привет") == ["Привет, мир"]
    assert await _texts(api, bob, "прив") == ["Привет, мир"]
    assert await _texts(api, bob, "ПРИВЕТ") == ["Привет, мир"]
    assert await _texts(api, bob, "мир") == ["Мирный день", "Привет, мир"]
    # Not a prefix when another word follows it.
    assert await _texts(api, bob, "мир день") == []


async def test_highlights_count_code_points(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    text = "🎉 Привет, мир! привет-привет prAGUE"
    await send(api.http, alice, chat, text)
    found = ok(await _search(api, bob, "мир прив"))
    marks = found["results"][0]["highlights"]
    assert [text[m["start"] : m["end"]] for m in marks] == ["Привет", "мир", "привет", "привет"]
    # After the emoji (one code point, two UTF-16 units): "Привет" starts at 2.
    assert marks[0] == {"start": 2, "end": 8}
    found = ok(await _search(api, bob, "prague"))
    (mark,) = found["results"][0]["highlights"]
    assert text[mark["start"] : mark["end"]] == "prAGUE"


async def test_a_message_is_found_right_after_it_is_sent(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    for n in range(3):
        sent = await send(api.http, alice, chat, f"fresh{n} news")
        found = ok(await _search(api, bob, f"fresh{n}"))
        assert [r["message"]["id"] for r in found["results"]] == [sent["id"]]


async def test_a_deleted_message_is_never_found(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    sent = await send(api.http, alice, chat, "secret plans")
    ok(await api.http.delete(f"/api/v1/messages/{sent['id']}", headers=alice.auth), 204)
    assert await _texts(api, bob, "secret") == []
    assert await _texts(api, alice, "plans secret") == []


async def test_an_edited_message_is_found_by_its_new_text_only(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    sent = await send(api.http, alice, chat, "old words")
    edit = {"text": "новые слова"}
    ok(await api.http.patch(f"/api/v1/messages/{sent['id']}", json=edit, headers=alice.auth))
    assert await _texts(api, bob, "old") == []
    assert await _texts(api, bob, "words") == []
    found = ok(await _search(api, bob, "слова"))["results"]
    assert [r["message"]["text"] for r in found] == ["новые слова"]
    assert found[0]["message"]["edited_at"] is not None


async def test_a_non_member_finds_nothing_and_is_refused_the_chat(api: Api) -> None:
    alice, bob, eve = await sign_up_many(api.http, "alice", "bob", "eve")
    chat = await _chat(api, alice, bob)
    await send(api.http, alice, chat, "members only")
    assert await _texts(api, eve, "members") == []
    # As any read of a chat one may not see: 404, the chat's existence not told.
    assert_error(await _search(api, eve, "members", chat=chat), 404, str(chat))
    assert await _texts(api, bob, "members", chat=chat) == ["members only"]


async def test_a_member_who_left_finds_nothing_more(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    await send(api.http, alice, chat, "before leaving")
    ok(await api.http.post(f"/api/v1/chats/{chat}/leave", headers=bob.auth), 204)
    assert await _texts(api, bob, "leaving") == []


async def test_chat_and_author_filters(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    one = await _chat(api, alice, bob)
    two = await _chat(api, alice, bob)
    await send(api.http, alice, one, "lunch one alice")
    await send(api.http, bob, one, "lunch one bob")
    await send(api.http, alice, two, "lunch two alice")
    assert await _texts(api, bob, "lunch", chat=one) == ["lunch one bob", "lunch one alice"]
    assert await _texts(api, bob, "lunch", author=alice.id) == [
        "lunch two alice",
        "lunch one alice",
    ]
    assert await _texts(api, bob, "lunch", chat=two, author=bob.id) == []


async def test_a_moderator_searches_every_chat_with_scope_all(api: Api) -> None:
    alice, bob, mod = await sign_up_many(api.http, "alice", "bob", "mod")
    await api.make_moderator(mod)
    chat = await _chat(api, alice, bob)
    await send(api.http, alice, chat, "between us")
    assert await _texts(api, mod, "between") == []
    assert await _texts(api, mod, "between", scope="all") == ["between us"]
    assert await _texts(api, mod, "between", chat=chat) == ["between us"]
    assert_error(await _search(api, alice, "between", scope="all"), 403, "moderators")


async def test_pages_run_newest_first_without_repeats(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    sent = [(await send(api.http, alice, chat, f"page item {n}"))["id"] for n in range(7)]
    seen: list[int] = []
    cursor = None
    for _ in range(4):
        query = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        found = ok(await _search(api, bob, "item", **query))
        seen += [r["message"]["id"] for r in found["results"]]
        cursor = found["next_cursor"]
        if cursor is None:
            break
    assert seen == sent[::-1]
    assert_error(await _search(api, bob, "item", cursor="bm90IG91cnM"), 400)


async def test_words_left_out_of_the_index_are_checked_on_the_rows_it_finds(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    wanted = [await send(api.http, alice, chat, f"alpha zeta{n}") for n in range(2)]
    for n in range(9):
        await send(api.http, alice, chat, f"noise zeta{n} alphabet")
    # The nine newest hold "zeta…" but not the word "alpha": the index's pages (when it is
    # asked for the prefix only) grow past them until two rows pass the check.
    found = ok(await _search(api, bob, "alpha zeta", limit=2))
    assert [r["message"]["id"] for r in found["results"]] == [m["id"] for m in wanted[::-1]]
    # And the other way round: "alpha" now a prefix, which "alphabet" begins.
    assert await _texts(api, bob, "zeta1 alpha") == ["noise zeta1 alphabet", "alpha zeta1"]


async def test_a_query_without_words_or_too_long_is_refused(api: Api) -> None:
    (alice,) = await sign_up_many(api.http, "alice")
    for q in ("", "   ", "?!, -", "x" * 257, " ".join("w" * 11)):
        assert assert_error(await _search(api, alice, q), 400)["code"] == "invalid_query"
    for limit in (0, 101):
        assert_error(await _search(api, alice, "word", limit=limit), 400)
    assert ok(await _search(api, alice, "x" * 256)) == {"results": [], "next_cursor": None}


async def test_query_syntax_of_either_database_is_only_words(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await _chat(api, alice, bob)
    await send(api.http, alice, chat, "it's NEAR the AND gate or not")
    for q in ('"near', "and*", "NEAR(gate", "it's", "text:gate", "gate & !not | or"):
        ok(await _search(api, bob, q))
    assert await _texts(api, bob, "it's near") == ["it's NEAR the AND gate or not"]
    assert await _texts(api, bob, "gate & !not | or") == ["it's NEAR the AND gate or not"]


async def test_the_index_follows_sends_edits_deletes_and_deleted_chats(api: Api) -> None:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    kept = await _chat(api, alice, bob)
    gone = await _chat(api, alice, bob)
    first = await send(api.http, alice, kept, "alpha beta")
    second = await send(api.http, alice, kept, "gamma")
    await send(api.http, bob, gone, "alpha in a chat that goes")
    ok(
        await api.http.patch(
            f"/api/v1/messages/{first['id']}", json={"text": "delta"}, headers=alice.auth
        )
    )
    ok(await api.http.delete(f"/api/v1/messages/{second['id']}", headers=alice.auth), 204)
    ok(await api.http.delete(f"/api/v1/chats/{gone}", headers=alice.auth), 204)
    assert await _texts(api, alice, "alpha") == []
    assert await _texts(api, alice, "delta") == ["delta"]
    if api.store.db.sql.name == "sqlite":
        # FTS5 compares its index with the text it would index now (an external-content table
        # is only as right as its triggers): a row left behind or missing fails here.
        await api.execute(
            sa.text("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
        )
