"""Replicas starting together migrate once: `chatd migrate` takes a PostgreSQL advisory lock
around Alembic's upgrade, so four of them started at once on an empty database all succeed,
and the schema is at head with one version row."""

from __future__ import annotations

import itertools
import os
import subprocess

import pytest

from chatd.storage.migrate import alembic_config
from tests.e2e.server import CHATD
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.e2e

PROCESSES = 4
_databases = itertools.count(1)


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None
    return head


@pytest.mark.parametrize("attempt", range(2))  # a race: a few tries make a miss unlikely
def test_four_migrations_started_at_once_on_an_empty_database_all_succeed(
    pg_cluster: PgCluster, attempt: int
) -> None:
    name = f"migrate_lock_{next(_databases)}"
    pg_cluster.psql(f"CREATE DATABASE {name}")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    env = {**clean, "CHATD_DATABASE_URL": pg_cluster.url(name)}
    processes = [
        subprocess.Popen(
            [str(CHATD), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(PROCESSES)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode(errors="replace")
    versions = pg_cluster.psql("SELECT version_num FROM alembic_version", database=name)
    assert versions.split() == [_head()]
