"""`python -m bench.changelog`: the ceiling of the change log's one position row, in commits/s.

Every writing transaction of every chatd process ends by bumping the one row of `change_log`
(storage/dialects.py, `_LOG_ALL`) and holds that row's lock until its commit is durable: the
next writer cannot take a position before the previous one's WAL flush. On a throwaway
PostgreSQL 15 with durable settings (fsync and synchronous_commit on), migrated to chatd's
schema, pgbench runs:

  a. the position row alone: `_LOG_ALL` for one change, autocommit, at 1, 16 and 64 clients;
  b. a group of N sends as chatd commits one (groupcommit.py): lock the chat, bump its seq by
     N and insert N messages, log N changes under the position row, commit; 64 clients, each
     into its own chat, so the position row is the only lock they share; N = 1, 8, 32;
  c. the same as (a) and (b) with one position row per client (a bench-only table, the shape
     of a sharded log: positions per shard), to show what the shared row costs;
  and (b) for N = 32 at 2 and 16 clients: one chatd process writes through two lanes, so 2
  clients are one process's writers, 16 those of eight processes.

The sends are chatd's `_SEND_ALL` cut down to what locks and writes (no membership checks, no
stored records, no read markers): the point is the position row, not the send. Prints a
markdown table for docs/scaling.md. About two and a half minutes (12 runs of --seconds).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.databases import PostgresDatabase
from chatd.storage.migrate import upgrade
from tests.pgcluster import PG_BIN

CHATS = 64  # one per client: no two clients share a chat's row lock

# What every writing transaction does last (dialects.py `_LOG_ALL`), for one change.
POSITION_ALONE = """\
WITH bump AS (
  UPDATE change_log SET last_pos = last_pos + 1 WHERE id = 1 RETURNING last_pos
)
INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at)
SELECT last_pos, 'message.created', :chat, NULL, NULL, NULL, now() FROM bump;
"""

POSITION_ALONE_SHARDED = """\
WITH bump AS (
  UPDATE bench_log_shards SET last_pos = last_pos + 1 WHERE shard = :chat RETURNING last_pos
)
INSERT INTO bench_shard_changes (shard, pos, type, chat_id, user_id, message_id, seq, created_at)
SELECT :chat, last_pos, 'message.created', :chat, NULL, NULL, NULL, now() FROM bump;
"""

# A group of :n sends into one chat, then their changes logged: chatd's round trips for a group
# of sends on PostgreSQL (BEGIN, _LOCK_CHATS, _SEND_ALL, _LOG_ALL, COMMIT).
GROUP = """\
BEGIN;
SELECT id, last_message_at FROM chats WHERE id = :chat FOR UPDATE;
WITH bumped AS (
  UPDATE chats SET last_seq = last_seq + :n, last_message_at = greatest(last_message_at, now())
  WHERE id = :chat RETURNING last_seq
)
INSERT INTO messages (chat_id, seq, author_id, text, created_at, body)
SELECT :chat, last_seq - :n + s, :author, 'hello from pgbench', now(), ''
FROM bumped, generate_series(1, :n) AS s;
{log}
END;
"""

_LOG_SHARED = """\
WITH bump AS (
  UPDATE change_log SET last_pos = last_pos + :n WHERE id = 1 RETURNING last_pos
), sent AS (
  SELECT m.id, m.seq, c.last_seq FROM chats c JOIN messages m ON m.chat_id = c.id
  WHERE c.id = :chat AND m.seq > c.last_seq - :n
)
INSERT INTO changes (pos, type, chat_id, user_id, message_id, seq, created_at)
SELECT bump.last_pos - sent.last_seq + sent.seq, 'message.created', :chat, NULL, sent.id,
       sent.seq, now()
FROM bump, sent;"""

_LOG_SHARDED = """\
WITH bump AS (
  UPDATE bench_log_shards SET last_pos = last_pos + :n WHERE shard = :chat RETURNING last_pos
), sent AS (
  SELECT m.id, m.seq, c.last_seq FROM chats c JOIN messages m ON m.chat_id = c.id
  WHERE c.id = :chat AND m.seq > c.last_seq - :n
)
INSERT INTO bench_shard_changes (shard, pos, type, chat_id, user_id, message_id, seq, created_at)
SELECT :chat, bump.last_pos - sent.last_seq + sent.seq, 'message.created', :chat, NULL, sent.id,
       sent.seq, now()
FROM bump, sent;"""

# One user in CHATS chats, and the sharded log's tables: one position row per shard (here one
# shard per chat), its changes keyed by (shard, pos) with chatd's two reading indexes.
SEED = f"""\
INSERT INTO users (id, username, username_key, created_at) OVERRIDING SYSTEM VALUE
VALUES (1, 'bench', 'bench', now());
INSERT INTO chats (id, name, created_at, last_message_at, owner_id) OVERRIDING SYSTEM VALUE
SELECT n, 'chat ' || n, now(), now(), 1 FROM generate_series(1, {CHATS}) AS n;
INSERT INTO chat_members (chat_id, user_id, created_at)
SELECT n, 1, now() FROM generate_series(1, {CHATS}) AS n;
CREATE TABLE bench_log_shards (shard int PRIMARY KEY, last_pos bigint NOT NULL DEFAULT 0);
INSERT INTO bench_log_shards (shard) SELECT n FROM generate_series(1, {CHATS}) AS n;
CREATE TABLE bench_shard_changes (LIKE changes INCLUDING DEFAULTS, shard int NOT NULL,
                                  PRIMARY KEY (shard, pos));
CREATE INDEX ON bench_shard_changes (chat_id, pos);
CREATE INDEX ON bench_shard_changes (user_id, pos);
"""

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    part: str
    log: str  # "one row" or "row per client"
    sends: int  # messages per transaction (0: the position row alone)
    clients: int
    script: str


@dataclass(frozen=True)
class Result:
    commits_per_s: float
    mean_ms: float


def cases() -> list[Case]:
    found = [Case("a", "one row", 0, c, POSITION_ALONE) for c in (1, 16, 64)]
    found.append(Case("c", "row per client", 0, 64, POSITION_ALONE_SHARDED))
    shared, sharded = GROUP.format(log=_LOG_SHARED), GROUP.format(log=_LOG_SHARDED)
    for n in (1, 8, 32):
        found.append(Case("b", "one row", n, 64, shared))
        found.append(Case("c", "row per client", n, 64, sharded))
    # Fewer writers at the row: one chatd process has two (its two write lanes).
    found += [Case("b", "one row", 32, clients, shared) for clients in (2, 16)]
    return found


def run_pgbench(db: PostgresDatabase, case: Case, path: Path, seconds: int) -> Result:
    # Client k (from 0) sends into chat k + 1, the shard of the same number.
    header = "\\set chat :client_id + 1\n\\set author 1\n"
    path.write_text(header + f"\\set n {max(case.sends, 1)}\n" + case.script)
    argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(case.clients), "-j", "2"]
    argv += ["-T", str(seconds), "-f", str(path)]
    argv += ["-h", "127.0.0.1", "-p", str(db.cluster.port), "-U", "postgres", db.name]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:  # interrupted, or timed out: ours to stop
            process.kill()
            process.wait()
    tps, latency = _TPS.search(out), _LATENCY.search(out)
    if process.returncode != 0 or tps is None or latency is None:
        raise RuntimeError(f"pgbench failed ({process.returncode}):\n{out}\n{err}")
    return Result(float(tps.group(1)), float(latency.group(1)))


def table(rows: list[tuple[Case, Result]]) -> list[str]:
    head = [
        "part",
        "position row",
        "messages per commit",
        "clients",
        "commits/s",
        "messages/s",
        "mean latency",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for case, result in rows:
        sent = case.sends * result.commits_per_s
        cells = [
            case.part,
            case.log,
            str(case.sends) if case.sends else "— (the row alone)",
            str(case.clients),
            f"{result.commits_per_s:,.0f}",
            f"{sent:,.0f}" if case.sends else "—",
            f"{result.mean_ms:.2f} ms",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changelog", description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per pgbench run")
    args = parser.parse_args()
    db = PostgresDatabase().start()  # no settings: PostgreSQL's durable defaults
    try:
        upgrade(db.url)
        db.cluster.psql(SEED, db.name)
        db.cluster.psql("VACUUM ANALYZE", db.name)
        settings = db.settings()
        rows = []
        with tempfile.TemporaryDirectory(prefix="chatd-changelog-") as workdir:
            for i, case in enumerate(cases()):
                path = Path(workdir) / f"case-{i}.sql"
                rows.append((case, run_pgbench(db, case, path, args.seconds)))
    finally:
        db.stop()
    print(", ".join(f"{name} {value}" for name, value in settings.items()))
    print()
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
