"""The README's shell examples run, top to bottom, against a real server.

Every ```sh block is run in order by one bash process (as a reader would paste them into one
terminal), against `chatd serve` on a fresh database, with `localhost:9000` pointed at it and
`.venv/bin/chatd` working on the same database. `curl` is wrapped in a shell function that logs
each request's status and body. Each request must be followed by a line `# NNN ...` giving the
status it answers; the scalar `"key":value` pairs written after the status (e.g. `{"id":3,...}`)
must be in the body too. A request without its status line, a status other than the one written,
or a failing command fails the test, so the README cannot drift from the code.

A block that must not run (it starts a server, or runs the test suite) is preceded by
`<!-- readme-test: skip -->`; only such commands may be skipped (checked below).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess

README = Path(__file__).parents[1] / "README.md"
VENV = Path(sys.executable).parents[1]
SKIP_MARK = "<!-- readme-test: skip"
# Commands a skipped block may hold: those that start a server or the whole test suite.
SKIPPABLE = re.compile(r"(make (run|test)|\.venv/bin/chatd serve)\b.*")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console", "zsh", "shell-session"}
FENCE = re.compile(r"```(\S*)\s*")
STATUS_LINE = re.compile(r"# ([1-5]\d\d)(?: |$)")
# A scalar pair in a status line's answer: "id":3, "blocked":false, "name":"project" ("..." is
# an abbreviation, not a value).
PAIR = re.compile(r'"\w+":(?:-?\d+|true|false|null|"[^".]*")')

PRELUDE = r"""
set -euo pipefail
__log="$READMETEST_DIR/log"
: > "$__log"
curl() {
  local body status
  body=$(mktemp "$READMETEST_DIR/body.XXXXXX")
  status=$(command curl -sS -o "$body" -w '%{http_code}' "$@") || status=000
  printf 'call %s %s %s\n' "$status" "$body" "$*" >> "$__log"
  cat "$body"; echo
  [[ $status != 000 ]]
}
__expect() { printf 'expect %s\n' "$1" >> "$__log"; }
__block() { printf 'block %s\n' "$1" >> "$__log"; }
"""


@dataclass(frozen=True)
class Block:
    fence_line: int  # 1-based; the block's first line is fence_line + 1
    language: str
    lines: list[str]
    skipped: bool


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str
    problems: list[str]
    expectations: int  # status lines checked


def shell_blocks(markdown: str) -> list[Block]:
    """The fenced blocks in a shell language, in order, each marked skipped or not."""
    lines = markdown.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        fence = FENCE.fullmatch(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if fence.group(1) in SHELL_LANGUAGES:
            before = [line for line in lines[:i] if line.strip()]
            skipped = bool(before) and before[-1].startswith(SKIP_MARK)
            blocks.append(Block(i + 1, fence.group(1), lines[i + 1 : end], skipped))
        i = end + 1
    return blocks


def bash_script(blocks: list[Block], address: str) -> str:
    """The runnable blocks as one script: each status line becomes `__expect LINE`."""
    parts = [PRELUDE]
    for block in blocks:
        if block.skipped:
            continue
        parts.append(f"__block {block.fence_line}")
        for number, line in enumerate(block.lines, start=block.fence_line + 1):
            parts.append(f"__expect {number}" if STATUS_LINE.match(line) else line)
    parts.append("__block end")
    return "\n".join(parts).replace("localhost:9000", address) + "\n"


def run_examples(markdown: str, server: ServerProcess, workdir: Path) -> Outcome:
    """Runs the markdown's shell examples against `server`; checks every request's status."""
    for tool in ("bash", "curl", "python3"):  # what a reader of the README needs
        assert shutil.which(tool), f"the README's examples need {tool} on PATH"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".venv").symlink_to(VENV)  # so `.venv/bin/chatd` works as in a checkout
    (workdir / "examples").symlink_to(README.parent / "examples")
    script = bash_script(shell_blocks(markdown), f"127.0.0.1:{server.port}")
    env = {
        **os.environ,
        "READMETEST_DIR": str(workdir),
        "CHATD_DATABASE_URL": server.database_url,
        **server.env,
    }
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    problems, expectations = check_log(
        (workdir / "log").read_text().splitlines(), markdown.splitlines()
    )
    return Outcome(done.returncode, done.stdout + done.stderr, problems, expectations)


@dataclass
class Call:
    status: int
    body: str
    command: str


def check_log(log: list[str], readme: list[str]) -> tuple[list[str], int]:
    """What is wrong in a run's log (requests in order, status lines, block starts), and how
    many status lines were checked."""
    problems: list[str] = []
    pending: list[Call] = []
    checked = 0
    for entry in log:
        kind, _, rest = entry.partition(" ")
        if kind == "call":
            status, body_path, command = rest.split(" ", 2)
            pending.append(Call(int(status), Path(body_path).read_text(), f"curl {command}"))
            continue
        if kind == "block":
            problems += [
                f"{c.command} answered {c.status} with no '# NNN' after it" for c in pending
            ]
        else:
            checked += 1
            number = int(rest)
            problems += _check_status_line(number, readme[number - 1], pending)
        pending = []
    return problems, checked


def _check_status_line(number: int, comment: str, calls: list[Call]) -> list[str]:
    where = f"README line {number} ({comment[:60]})"
    if len(calls) != 1:
        made = ", ".join(c.command for c in calls) or "no request"
        return [f"{where} must follow exactly one request, not: {made}"]
    [call] = calls
    found = STATUS_LINE.match(comment)
    assert found is not None
    if call.status != int(found.group(1)):
        return [f"{where}: {call.command} answered {call.status}: {call.body[:300]}"]
    body = _compact(call.body)
    missing = [p for p in PAIR.findall(comment) if not re.search(re.escape(p) + r"(?![\w.])", body)]
    return [f"{where}: {pair} is not in the answer: {body[:300]}" for pair in missing]


def _compact(body: str) -> str:
    """JSON without blanks between tokens (PostgreSQL builds Avito answers as `{"id" : 1}`)."""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return body


def _report(outcome: Outcome) -> str:
    return "\n".join(
        [*outcome.problems, f"exit status {outcome.returncode}", outcome.output[-3000:]]
    )


# The README itself


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_readme_examples_answer_as_written_on_a_fresh_server(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'data' / 'chatd.db'}"
    else:
        cluster = request.getfixturevalue("pg_cluster")
        cluster.psql("CREATE DATABASE readme")
        url = cluster.url("readme")
    markdown = README.read_text()
    server = ServerProcess(url, tmp_path / "server.log").start()
    try:
        outcome = run_examples(markdown, server, tmp_path / "reader")
    finally:
        server.kill()
    assert outcome.returncode == 0, _report(outcome)
    assert outcome.problems == [], _report(outcome)
    written = sum(
        1
        for block in shell_blocks(markdown)
        if not block.skipped
        for line in block.lines
        if STATUS_LINE.match(line)
    )
    assert outcome.expectations == written > 30


def test_only_commands_that_start_a_server_or_the_tests_are_skipped() -> None:
    blocks = shell_blocks(README.read_text())
    assert [b.language for b in blocks] == ["sh"] * len(blocks), "write shell examples as ```sh"
    for block in blocks:
        if block.skipped:
            for line in block.lines:
                command = line.split("#")[0].strip()
                assert not command or SKIPPABLE.fullmatch(command), (block.fence_line, line)
    assert sum(not b.skipped for b in blocks) >= 3


# The check itself can fail


@pytest.mark.e2e
def test_a_wrong_status_a_missing_status_and_a_wrong_value_are_each_caught(
    tmp_path: Path,
) -> None:
    markdown = "\n".join(
        [
            "```sh",
            'curl -X POST localhost:9000/users/add -d \'{"username": "a"}\'',
            '# 200 {"id":1}',
            'curl -X POST localhost:9000/users/add -d \'{"username": "b"}\'',
            '# 201 {"id":3}',
            "curl -X POST localhost:9000/chats/get -d '{\"user\": 99}'",
            "```",
            "<!-- readme-test: skip -->",
            "```sh",
            'curl -X POST localhost:9000/users/add -d \'{"username": "skipped"}\'',
            "```",
        ]
    )
    server = ServerProcess(f"sqlite:///{tmp_path / 'chatd.db'}", tmp_path / "server.log").start()
    try:
        outcome = run_examples(markdown, server, tmp_path / "reader")
    finally:
        server.kill()
    assert outcome.returncode == 0, outcome.output
    assert len(outcome.problems) == 3, outcome.problems
    wrong_status, wrong_value, missing_status = outcome.problems
    assert re.match(r"README line 3 .* answered 201", wrong_status)
    assert re.match(r'README line 5 .*: "id":3 is not in the answer', wrong_value)
    assert re.match(r"curl .*/chats/get .* answered 404 with no '# NNN'", missing_status)
    assert outcome.expectations == 2


@pytest.mark.e2e
def test_a_failing_command_fails_the_run(tmp_path: Path) -> None:
    markdown = "```sh\n.venv/bin/chatd users promote nobody\n```\n"
    server = ServerProcess(f"sqlite:///{tmp_path / 'chatd.db'}", tmp_path / "server.log").start()
    try:
        outcome = run_examples(markdown, server, tmp_path / "reader")
    finally:
        server.kill()
    assert outcome.returncode == 1
    assert "no user named 'nobody'" in outcome.output
