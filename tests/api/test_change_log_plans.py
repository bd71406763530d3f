"""The change log's reads stay cheap as it grows: a resume reads the user's own changes through
indexes, not the whole log after its position (it once took a sequential scan: 183-500 ms at
300k rows for a user with no changes at all)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from chatd.storage import changes
from tests.api.v1_helpers import Api, create_chat, send, sign_up_many

OTHERS = 20_000  # changes of a chat that is nobody's here


def _plan(conn: sa.Connection, query: sa.Select[Any], **params: Any) -> str:
    sql = query.params(**params).compile(
        dialect=conn.dialect, compile_kwargs={"literal_binds": True}
    )
    explain = "EXPLAIN QUERY PLAN" if conn.dialect.name == "sqlite" else "EXPLAIN"
    rows = conn.exec_driver_sql(f"{explain} {sql}").all()
    return "\n".join(str(row[-1]) for row in rows)


async def _fill(api: Api) -> None:
    start = "(SELECT last_pos FROM change_log) + x"
    if api.store.db.sql.name == "sqlite":
        positions = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n)"
        source = f"SELECT {start}, 'message.created', 999999, NULL, 0 FROM g"
    else:
        positions = ""
        source = f"SELECT {start}, 'message.created', 999999, NULL, now()"
        source += " FROM generate_series(1, :n) x"
    await api.execute(
        sa.text(
            f"{positions} INSERT INTO changes (pos, type, chat_id, user_id, created_at) {source}"
        ).bindparams(n=OTHERS)
    )
    await api.execute(
        sa.text("UPDATE change_log SET last_pos = last_pos + :n").bindparams(n=OTHERS)
    )
    await api.execute(sa.text("ANALYZE"))


async def test_a_resume_reads_only_the_users_own_changes_through_indexes(api: Api) -> None:
    alice, bob, carol = await sign_up_many(api.http, "alice", "bob", "carol")
    chat = (await create_chat(api.http, alice, "room", [bob]))["id"]
    await send(api.http, alice, chat, "before the others")
    await _fill(api)
    sent = await send(api.http, alice, chat, "after the others")

    for user, everyone in ((bob.id, False), (carol.id, False)):
        query = changes._USER[everyone]
        plan = await api.store.db.read(_plan, query, user=user, after=0, limit=200)
        assert not re.search(r"^(SCAN changes\b|.*Seq Scan on changes\b)", plan, re.M), plan

    page = await api.store.read_user_log(bob.id, 0, 200, everyone=False)
    assert [e.type for e in page.entries] == [
        "chat.created",
        "message.created",
        "message.created",
    ]
    assert page.entries[-1].message is not None
    assert page.entries[-1].message.id == sent["id"]
    nothing = await api.store.read_user_log(carol.id, 0, 200, everyone=False)
    assert nothing.entries == []
    assert nothing.last_pos == page.last_pos
