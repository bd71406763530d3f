"""Replies: `reply_to` on sends (v1 and Avito), checked against the chat, and shown on every
message with the replied message as it is now."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import add_chat, add_users, assert_error, get_messages
from tests.api.v1_helpers import (
    Api,
    User,
    create_chat,
    history,
    ok,
    send,
    show_chat,
    sign_up_many,
)


async def _reply(api: Api, author: User, chat: int, text: str, to: int) -> httpx.Response:
    body = {"text": text, "reply_to": to}
    return await api.http.post(f"/api/v1/chats/{chat}/messages", json=body, headers=author.auth)


async def _pair(api: Api) -> tuple[User, User, int]:
    alice, bob = await sign_up_many(api.http, "alice", "bob")
    chat = await create_chat(api.http, alice, "team", [bob])
    return alice, bob, chat["id"]


async def test_a_reply_shows_what_it_answers(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "lunch at noon?")
    assert asked["reply_to"] is None
    answer = ok(await _reply(api, bob, chat, "yes", asked["id"]), 201)
    quote = {"id": asked["id"], "author": alice.id, "excerpt": "lunch at noon?", "deleted": False}
    assert answer["reply_to"] == quote
    page = await history(api.http, alice, chat)
    assert [m["reply_to"] for m in page["messages"]] == [None, quote]
    shown = await show_chat(api.http, bob, chat)
    assert shown["messages"][-1]["reply_to"] == quote


async def test_the_excerpt_is_the_current_text_cut_to_100_characters(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "x" * 150)
    answer = ok(await _reply(api, bob, chat, "ok", asked["id"]), 201)
    assert answer["reply_to"]["excerpt"] == "x" * 100
    path = f"/api/v1/messages/{asked['id']}"
    ok(await api.http.patch(path, json={"text": "é" * 120}, headers=alice.auth))
    page = await history(api.http, bob, chat)
    assert page["messages"][-1]["reply_to"]["excerpt"] == "é" * 100


async def test_a_reply_to_a_deleted_message_says_so(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "secret")
    answer = ok(await _reply(api, bob, chat, "noted", asked["id"]), 201)
    ok(await api.http.delete(f"/api/v1/messages/{asked['id']}", headers=alice.auth), 204)
    deleted = {"id": asked["id"], "author": alice.id, "excerpt": None, "deleted": True}
    page = await history(api.http, bob, chat)
    assert page["messages"][-1]["id"] == answer["id"]
    assert page["messages"][-1]["reply_to"] == deleted
    # Replying to it is still allowed: the quote says it is gone.
    again = ok(await _reply(api, bob, chat, "what was it?", asked["id"]), 201)
    assert again["reply_to"] == deleted


async def test_a_reply_must_answer_a_message_of_the_same_chat(api: Api) -> None:
    alice, _bob, chat = await _pair(api)
    other = (await create_chat(api.http, alice, "elsewhere"))["id"]
    elsewhere = await send(api.http, alice, other, "not here")
    error = assert_error(await _reply(api, alice, chat, "hm", elsewhere["id"]), 400)
    assert error["code"] == "invalid_reply"
    error = assert_error(await _reply(api, alice, chat, "hm", 10**12), 400)
    assert error["code"] == "invalid_reply"
    assert (await history(api.http, alice, chat))["messages"] == []


async def test_a_message_of_a_chat_the_caller_is_not_in_cannot_be_quoted(api: Api) -> None:
    alice, _bob, chat = await _pair(api)
    (mallory,) = await sign_up_many(api.http, "mallory")
    own = (await create_chat(api.http, mallory, "mine"))["id"]
    private = await send(api.http, alice, chat, "between us")
    # Answered as any message of another chat: the reply learns nothing of it.
    error = assert_error(await _reply(api, mallory, own, "what?", private["id"]), 400)
    assert error["code"] == "invalid_reply"
    assert "between us" not in error["message"]
    # Nor can a non-member reply into the chat itself.
    assert_error(await _reply(api, mallory, chat, "hi", private["id"]), 404)


async def test_reply_to_must_be_a_message_id(api: Api) -> None:
    alice, _bob, chat = await _pair(api)
    for bad in ("one", 0, -1, 1.5, True, [1]):
        body: dict[str, Any] = {"text": "x", "reply_to": bad}
        response = await api.http.post(
            f"/api/v1/chats/{chat}/messages", json=body, headers=alice.auth
        )
        assert_error(response, 400)


async def test_a_direct_send_may_reply_within_the_private_chat(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    path = f"/api/v1/direct/{bob.id}/messages"
    first = ok(await api.http.post(path, json={"text": "hi"}, headers=alice.auth), 201)
    body = {"text": "hello", "reply_to": first["id"]}
    back = f"/api/v1/direct/{alice.id}/messages"
    answer = ok(await api.http.post(back, json=body, headers=bob.auth), 201)
    assert answer["reply_to"]["id"] == first["id"]
    group_message = await send(api.http, alice, chat, "in the group")
    body = {"text": "wrong chat", "reply_to": group_message["id"]}
    error = assert_error(await api.http.post(back, json=body, headers=bob.auth), 400)
    assert error["code"] == "invalid_reply"


async def test_a_keyed_reply_replays_the_same_answer(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "q")
    headers = {**bob.auth, "Idempotency-Key": "reply-1"}
    body = {"text": "a", "reply_to": asked["id"]}
    path = f"/api/v1/chats/{chat}/messages"
    first = await api.http.post(path, json=body, headers=headers)
    second = await api.http.post(path, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.json()["reply_to"]["id"] == asked["id"]
    assert len((await history(api.http, bob, chat))["messages"]) == 2
    # The same key with another reply_to is another request.
    other = await api.http.post(path, json={**body, "reply_to": None}, headers=headers)
    assert other.status_code == 422, other.text


async def test_search_results_show_the_reply(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "where is the report")
    ok(await _reply(api, bob, chat, "the report is here", asked["id"]), 201)
    found = ok(await api.http.get("/api/v1/search", params={"q": "here"}, headers=alice.auth))
    assert found["results"][0]["message"]["reply_to"]["id"] == asked["id"]


# The Avito API


async def test_avito_send_may_reply_and_only_replies_carry_reply_to(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "avito", [alice, bob])
    first = await client.post("/messages/add", json={"chat": chat, "author": alice, "text": "q"})
    assert first.status_code == 201, first.text
    asked = first.json()["id"]
    body = {"chat": chat, "author": bob, "text": "a", "reply_to": asked}
    second = await client.post("/messages/add", json=body)
    assert second.status_code == 201, second.text
    listed = await get_messages(client, chat)
    assert list(listed[0]) == ["id", "chat", "author", "text", "created_at"]
    assert list(listed[1]) == ["id", "chat", "author", "text", "created_at", "reply_to"]
    assert listed[1]["reply_to"] == asked
    assert (await get_messages(client, chat, limit=1))[0]["reply_to"] == asked


async def test_an_edited_reply_keeps_reply_to_in_its_avito_record(api: Api) -> None:
    alice, bob, chat = await _pair(api)
    asked = await send(api.http, alice, chat, "q")
    answer = ok(await _reply(api, bob, chat, "a", asked["id"]), 201)
    path = f"/api/v1/messages/{answer['id']}"
    ok(await api.http.patch(path, json={"text": "a, edited"}, headers=bob.auth))
    listed = await get_messages(api.http, chat)
    assert listed[1]["text"] == "a, edited"
    assert listed[1]["reply_to"] == asked["id"]
    assert "reply_to" not in listed[0]


async def test_avito_reply_to_another_chats_message_is_refused(client: httpx.AsyncClient) -> None:
    alice, bob = await add_users(client, "alice", "bob")
    chat = await add_chat(client, "one", [alice, bob])
    other = await add_chat(client, "two", [alice])
    sent = await client.post("/messages/add", json={"chat": other, "author": alice, "text": "x"})
    body = {"chat": chat, "author": bob, "text": "a", "reply_to": sent.json()["id"]}
    error = assert_error(await client.post("/messages/add", json=body), 400)
    assert error["code"] == "invalid_reply"
    assert await get_messages(client, chat) == []


async def test_avito_records_without_replies_are_unchanged_byte_for_byte(
    client: httpx.AsyncClient,
) -> None:
    alice = (await add_users(client, "alice"))[0]
    chat = await add_chat(client, "plain", [alice])
    await client.post("/messages/add", json={"chat": chat, "author": alice, "text": 'hé "q"'})
    raw = (await client.post("/messages/get", json={"chat": chat})).content
    assert b"reply_to" not in raw
    assert raw.startswith(b'[{"id":')
    assert raw.endswith(b'Z"}]')
