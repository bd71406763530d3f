"""Reference (b): pgbench running the statement of one messages/add on PostgreSQL.

chatd's send (storage/dialects.py, `PostgresDialect.insert_messages`, for one send) written
out by hand: bump the chat's seq under its row lock, with the membership and not-blocked checks
in the WHERE and its stored last message time, insert the message with its stored record (the
same text chatd stores, made here by to_char; no colon may stand in the script's SQL, where
pgbench would take `:MI` for a variable) and move the author's read marker, in one
autocommit statement: one send per transaction, none batched. pgbench sends it prepared (-M
prepared). Keep the two in step when the send path changes.
"""

from __future__ import annotations

import re
import subprocess
from functools import partial
from pathlib import Path

from bench.databases import PostgresDatabase
from bench.load import Load
from bench.measurements import Run
from bench.scenarios import MESSAGES_ADD_ONE, MESSAGES_ADD_RANDOM
from bench.seed import Seeded
from bench.series import Series
from tests.pgcluster import PG_BIN

SEND = """\
WITH bumped AS (
  UPDATE chats SET last_seq = last_seq + 1,
    last_message_at = greatest(last_message_at, now()),
    last_message_text = replace(to_char(greatest(last_message_at, now()) AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24#MI#SS.US"Z"'), '#', chr(58))
  WHERE id = :chat
    AND EXISTS (SELECT 1 FROM chat_members WHERE chat_id = :chat AND user_id = :author)
    AND NOT EXISTS (SELECT 1 FROM users WHERE id = :author AND blocked_at IS NOT NULL)
  RETURNING id, last_seq, last_message_at, last_message_text
), inserted AS (
  INSERT INTO messages (chat_id, seq, author_id, text, created_at, body)
  SELECT :chat, last_seq, :author, 'hello from pgbench', last_message_at,
         '"chat":' || CAST(:chat AS bigint) || ',"author":' || CAST(:author AS bigint)
         || ',"text":"hello from pgbench","created_at":"' || last_message_text || '"}'
  FROM bumped
  RETURNING id, seq, created_at
), marked AS (
  UPDATE chat_members SET last_read_seq = bumped.last_seq FROM bumped
  WHERE chat_members.chat_id = bumped.id AND chat_members.user_id = :author
)
SELECT id, seq, created_at FROM inserted;
"""

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)
_TRANSACTIONS = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


def pgbench_scripts(seeded: Seeded, directory: Path) -> dict[str, Path]:
    """One script per chatd scenario it is the reference for."""
    chat_of = {
        MESSAGES_ADD_ONE: str(seeded.hot_chat),
        MESSAGES_ADD_RANDOM: f"random({seeded.bulk_first}, {seeded.bulk_last})",
    }
    scripts = {}
    for scenario, chat in chat_of.items():
        path = directory / f"pgbench-{'one' if scenario == MESSAGES_ADD_ONE else 'random'}.sql"
        path.write_text(f"\\set chat {chat}\n\\set author {seeded.author}\n{SEND}")
        scripts[scenario] = path
    return scripts


def run_pgbench(database: PostgresDatabase, script: Path, clients: int, seconds: float) -> Run:
    cluster = database.cluster
    argv = [str(PG_BIN / "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", "2"]
    argv += ["-T", str(max(1, round(seconds))), "-f", str(script)]
    argv += ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", database.name]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    tps, latency = _TPS.search(done.stdout), _LATENCY.search(done.stdout)
    if done.returncode != 0 or tps is None or latency is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    transactions, failed = _TRANSACTIONS.search(done.stdout), _FAILED.search(done.stdout)
    return Run(
        requests_per_s=float(tps.group(1)),
        mean_ms=float(latency.group(1)),
        requests=int(transactions.group(1)) if transactions else 0,
        errors=int(failed.group(1)) if failed else 0,
    )


def pgbench_series(
    database: PostgresDatabase, seeded: Seeded, workdir: Path, load: Load
) -> list[Series]:
    return [
        Series("pgbench", scenario, clients, partial(run_pgbench, database, script, clients))
        for scenario, script in pgbench_scripts(seeded, workdir).items()
        for clients in load.connections
    ]
