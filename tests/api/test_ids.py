"""Ids are never handed out twice, even after the row holding the highest one is deleted.

A client may still hold the id of a deleted chat or message; were it reused, the client would
read or write someone else's. PostgreSQL's id sequences never go back; on SQLite only
AUTOINCREMENT tables promise that (storage/tables.py declares them, migration 0003 restores it).
"""

from __future__ import annotations

from chatd.storage.tables import users
from tests.api.helpers import add_chat, add_user, send
from tests.api.v1_helpers import Api, log_in, ok, sign_up_many


async def test_a_deleted_chats_id_and_its_messages_ids_are_not_reused(api: Api) -> None:
    moderator, alice = await sign_up_many(api.http, "moderator", "alice")
    await api.make_moderator(moderator)
    kept = await add_chat(api.http, "kept", [alice.id])
    await send(api.http, kept, alice.id, "stays")
    newest = await add_chat(api.http, "newest", [alice.id])
    newest_message = await send(api.http, newest, alice.id, "goes with its chat")

    ok(await api.http.delete(f"/api/v1/chats/{newest}", headers=moderator.auth), 204)

    assert await add_chat(api.http, "after", [alice.id]) > newest
    assert await send(api.http, kept, alice.id, "after") > newest_message


async def test_a_deleted_users_id_is_not_reused(api: Api) -> None:
    await add_user(api.http, "alice")
    newest = await add_user(api.http, "bob")
    # No API deletes a user yet; the id must stay retired when one does.
    await api.execute(users.delete().where(users.c.id == newest))

    assert await add_user(api.http, "carol") > newest


async def test_a_revoked_tokens_id_is_not_reused(api: Api) -> None:
    (alice,) = await sign_up_many(api.http, "alice")
    newest = await api.scalar("SELECT max(id) FROM auth_tokens")
    ok(await api.http.delete("/api/v1/auth/tokens/current", headers=alice.auth), 204)
    await log_in(api.http, "alice")

    assert await api.scalar("SELECT max(id) FROM auth_tokens") > newest
