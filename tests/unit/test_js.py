"""The web client's pure modules (state.js, timeline.js, outbox.js, rules.js, marks.js) under
node's own test runner (tests/js/*.test.mjs): no browser, no server, well under a second. node 18
or later."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chatd.api import render

ROOT = Path(__file__).parents[2]
STATIC = ROOT / "src" / "chatd" / "web" / "static"
NODE_MAJOR_MIN = 18


def _node() -> str:
    # Fail, not skip: a skipped suite would let CI pass without ever running the client's tests.
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is missing: the web client's unit tests need node {NODE_MAJOR_MIN}+")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= NODE_MAJOR_MIN, f"node {version.stdout.strip()}: {NODE_MAJOR_MIN}+ needed"
    return node


def test_the_web_clients_unit_tests_pass() -> None:
    tests = sorted(str(path) for path in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert tests, "no tests/js/*.test.mjs"
    done = subprocess.run(
        [_node(), "--test", *tests], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stdout[-20_000:] + done.stderr[-5_000:]


def test_the_client_cuts_previews_where_the_server_does() -> None:
    found = re.search(
        r"^export const PREVIEW_LENGTH = (\d+);", (STATIC / "state.js").read_text(), re.M
    )
    assert found, "state.js declares PREVIEW_LENGTH"
    assert int(found.group(1)) == render.EXCERPT_LENGTH


@pytest.mark.parametrize("module", ["state.js", "timeline.js", "outbox.js", "rules.js", "marks.js"])
def test_the_pure_modules_touch_no_page_network_or_timer(module: str) -> None:
    source = (STATIC / module).read_text()
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
    for word in ("document", "window", "fetch(", "localStorage", "sessionStorage", "WebSocket"):
        assert word not in code, f"{module} uses {word}"
    if module != "outbox.js":  # the outbox is given its timers and clock
        assert "setTimeout" not in code, f"{module} sets no timer"
        assert "Date.now" not in code, f"{module} reads no clock"
