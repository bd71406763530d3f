"""An operator's mistake ends `chatd serve`, `migrate` or `users` with one line, not a traceback.

Each case runs the real CLI as a subprocess: the exit code is not 0, stderr is one line, and it
names the setting to change (and never a password).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatd.storage import migrate
from tests.e2e.server import CHATD
from tests.pgcluster import PgCluster, free_port

pytestmark = pytest.mark.e2e

PASSWORD = "pw-that-must-never-show"
DATABASE = ("--database-url", "CHATD_DATABASE_URL")


def _chatd(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    # A server that starts after all would run until the timeout, which fails the test.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATD_")}
    return subprocess.run(
        [str(CHATD), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        cwd=cwd,
        env={**clean, "CHATD_ARGON2_PROFILE": "CHEAPEST", **env},
    )


def _command(command: str, database_url: str) -> list[str]:
    """`serve` on a free loopback port, `migrate`, or `users list`, on this database."""
    args = {
        "serve": ["serve", "--host", "127.0.0.1", "--port", str(free_port())],
        "migrate": ["migrate"],
        "users": ["users", "list"],
    }[command]
    return [*args, "--database-url", database_url]


def _assert_one_line(result: subprocess.CompletedProcess[str], *mentions: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chatd: "), lines
    for mention in mentions:
        assert mention in lines[0], (mention, lines[0])
    assert PASSWORD not in result.stderr + result.stdout
    return lines[0]


COMMANDS = ["serve", "migrate", "users"]


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database_is_one_line(command: str) -> None:
    port = free_port()  # bound a moment ago, listened on by nobody
    url = f"postgresql://chatd:{PASSWORD}@127.0.0.1:{port}/chatd"
    result = _chatd(*_command(command, url))
    line = _assert_one_line(result, f"127.0.0.1:{port}", *DATABASE)
    assert "cannot reach" in line
    assert result.returncode == 1


@pytest.fixture(scope="module")
def password_cluster() -> Iterator[PgCluster]:
    """A cluster whose role `chatd` logs in over TCP with a password (scram-sha-256)."""
    cluster = PgCluster().start()
    try:
        cluster.psql(f"CREATE ROLE chatd LOGIN PASSWORD '{PASSWORD}-right'")
        cluster.psql("CREATE DATABASE chatd OWNER chatd")
        (cluster.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"  # for cluster.psql
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        cluster.restart()
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_password_is_one_line(password_cluster: PgCluster, command: str) -> None:
    place = f"127.0.0.1:{password_cluster.port}"
    result = _chatd(*_command(command, f"postgresql://chatd:{PASSWORD}@{place}/chatd"))
    line = _assert_one_line(result, place, "password authentication failed", *DATABASE)
    assert result.returncode == 1
    if command == "migrate":  # the right one works: it is the password that was refused
        right = _chatd(*_command(command, f"postgresql://chatd:{PASSWORD}-right@{place}/chatd"))
        assert right.returncode == 0, right.stderr
    assert "refused" in line


def test_a_port_in_use_is_one_line_before_anything_is_migrated(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
        result = _chatd("serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", url)
    _assert_one_line(result, str(port), "already in use", "--port", "CHATD_PORT")
    assert result.returncode == 1
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_directory_that_cannot_be_created_is_one_line(tmp_path: Path, command: str) -> None:
    # A file where the directory should be: refused to root too.
    (tmp_path / "data").write_text("not a directory")
    url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    _assert_one_line(_chatd(*_command(command, url)), "data directory", *DATABASE)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Makes `path` read-only for this user: chmod for others, the immutable flag for root
    (root ignores permission bits). Skips where the file system has no immutable flag."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root, and no chattr to make a file immutable")
    made = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"running as root, and chattr +i fails here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_data_directory_that_is_not_writable_is_one_line(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with _read_only(data):
        result = _chatd(*_command(command, f"sqlite:///{data / 'chatd.db'}"))
    _assert_one_line(result, "data directory", "not writable", *DATABASE)
    assert result.returncode == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_database_file_is_one_line(tmp_path: Path, command: str) -> None:
    # Without the check, SQLite opens it read-only without a word: `serve` would start and
    # answer every write with 500 (here: run until the timeout), `migrate` would succeed.
    path = tmp_path / "chatd.db"
    migrate.upgrade(f"sqlite:///{path}")
    with _read_only(path):
        result = _chatd(*_command(command, f"sqlite:///{path}"))
    _assert_one_line(result, str(path), "cannot be written", *DATABASE)
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("variable", "raw", "mention"),
    [
        ("CHATD_PORT", "http", "must be an integer"),
        ("CHATD_AVITO_API", "closed", "must be open, key or off"),
        ("CHATD_AVITO_API", "key", "CHATD_AVITO_API_KEY"),  # and no key
        ("CHATD_DATABASE_URL", "sqlite://", "sqlite:///PATH"),
        ("CHATD_DATABASE_URL", "sqlite:///", "sqlite:///PATH"),
    ],
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_setting_is_one_line_naming_it(
    command: str, variable: str, raw: str, mention: str, tmp_path: Path
) -> None:
    # Every command reads every CHATD_* variable. In tmp_path, on a free loopback port: should
    # the setting be ignored, the default ./data/chatd.db goes there, and no server takes :9000.
    args = {
        "serve": ["serve", "--host", "127.0.0.1", "--port", str(free_port())],
        "migrate": ["migrate"],
        "users": ["users", "list"],
    }[command]
    result = _chatd(*args, cwd=tmp_path, **{variable: raw})
    _assert_one_line(result, variable, mention)
    assert result.returncode == 2


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_url_without_a_path_names_the_flag(command: str) -> None:
    # `sqlite://` is SQLAlchemy's in-memory database: migrated, then lost, and never served.
    result = _chatd(*_command(command, "sqlite://"))
    _assert_one_line(result, "--database-url", "sqlite:///PATH")
    assert result.returncode == 2
