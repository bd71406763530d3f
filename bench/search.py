"""Search over the bulk history (issue 18): GET /api/v1/search as the seeded author, who is a
member of every bulk chat, at 16 connections.

Two queries bound what a person meets: a rare one, `bulk 537` (every bulk message holds "bulk";
"537" ends one message in each of the 1,000 bulk chats, so ~1,000 of the 1 M match, the last word
as a prefix), and the worst case, `conversation`, a word every bulk message holds (1 M match,
newest 20 wanted).
"""

from __future__ import annotations

import subprocess
from urllib.parse import quote

from bench.client import ApiClient
from bench.series import Series
from bench.servers import CHATD
from bench.wrk import fixed, wrk_series

CONNECTIONS = 16
PASSWORD = "bench search password"
SEARCH_RARE = "search 'bulk 537' (~1k of 1M match)"
SEARCH_COMMON = "search 'conversation' (1M match)"
QUERIES = {SEARCH_RARE: "bulk 537", SEARCH_COMMON: "conversation"}


def author_token(database_url: str, url: str, username: str) -> str:
    """A v1 token of a user made by /users/add: a password set as an operator would."""
    subprocess.run(
        [str(CHATD), "users", "set-password", username, "--database-url", database_url],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    api = ApiClient(url)
    try:
        session = api.post("/api/v1/auth/tokens", {"username": username, "password": PASSWORD})
    finally:
        api.close()
    token: str = session["token"]
    return token


def search_series(system: str, url: str, token: str) -> list[Series]:
    return [
        wrk_series(
            system,
            scenario,
            url,
            "get.lua",
            fixed(f"/api/v1/search?q={quote(q)}&limit=20", token),
            CONNECTIONS,
        )
        for scenario, q in QUERIES.items()
    ]
