"""A PostgreSQL connection lost during COMMIT: the write may have committed, so it is never run
again (that stored it twice) and never answered "nothing was changed": OutcomeUnknown.

A proxy between chatd's storage and PostgreSQL passes the COMMIT on, lets the server commit it,
and cuts both sides before the answer comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import sqlalchemy as sa

from chatd.core.errors import OutcomeUnknown
from chatd.storage.postgres import PostgresDatabase
from tests.pgcluster import PgCluster


class CommitCutter:
    """Forwards a connection to PostgreSQL; once armed, cuts it right after a COMMIT went by."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.armed = False
        self.cuts = 0

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.port)
        cut = asyncio.Event()

        async def upstream() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
                await server_w.drain()
                if self.armed and b"COMMIT" in data:
                    self.armed = False
                    self.cuts += 1
                    cut.set()
                    await asyncio.sleep(0.3)  # the server commits meanwhile
                    client_w.transport.abort()
                    server_w.transport.abort()
                    return

        async def downstream() -> None:
            while data := await server_r.read(65536):
                if cut.is_set():
                    return  # the COMMIT's answer never reaches chatd
                client_w.write(data)
                await client_w.drain()

        both = {asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:  # either side gone: so is the other (a goodbye must not wait forever)
            client_w.transport.abort()
            server_w.transport.abort()
            for task in both:
                task.cancel()
            await asyncio.gather(*both, return_exceptions=True)


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_a_write_whose_commit_was_cut_off_is_not_run_again(cluster: PgCluster) -> None:
    admin = await asyncpg.connect(cluster.url())
    await admin.execute("CREATE TABLE t (id serial PRIMARY KEY, v text)")
    cutter = CommitCutter(cluster.port)
    proxy = await asyncio.start_server(cutter.handle, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    db = PostgresDatabase(
        sa.make_url(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"), 4
    )
    rows = sa.table("t", sa.column("v"))

    def insert(conn: sa.Connection) -> None:
        conn.execute(rows.insert().values(v="once"))

    try:
        await db.write(insert)  # a connection in the pool, through the proxy
        cutter.armed = True
        with pytest.raises(OutcomeUnknown):
            await db.write(insert)
        assert cutter.cuts == 1
        # Committed once: the server had it before the cut, and chatd did not run it again.
        assert await admin.fetchval("SELECT count(*) FROM t") == 2
        await db.write(insert)  # and the database serves on
        assert await admin.fetchval("SELECT count(*) FROM t") == 3
    finally:
        await db.dispose()
        proxy.close()
        await admin.close()
