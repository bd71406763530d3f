"""The data every benchmark reads and writes, created through the API like any client would."""

from __future__ import annotations

from dataclasses import dataclass

from bench.client import ApiClient

READER_CHATS = 100  # chats/get answers a user in this many chats
BULK_CHATS = 1000  # messages/add into random chats picks among these; bulk history lives here
HISTORY_MESSAGES = 200  # messages/get with limit 100 pages through this chat
CROWD = 1000  # members of the big chat: a send must cost the same there as into a chat of two


@dataclass(frozen=True)
class Seeded:
    reader: int  # member of READER_CHATS chats
    author: int  # member of the hot chat, the history chat and every bulk chat
    peer: int
    history_chat: int
    hot_chat: int  # messages/add into ONE chat
    bulk_first: int  # bulk chats are the ids bulk_first..bulk_last
    bulk_last: int
    big_chat: int  # CROWD members, the author among them


def seed(base_url: str) -> Seeded:
    api = ApiClient(base_url)
    try:
        reader, author, peer = (
            api.post("/users/add", {"username": name})["id"]
            for name in ("bench-reader", "bench-author", "bench-peer")
        )
        for i in range(READER_CHATS):
            api.post("/chats/add", {"name": f"reader-{i}", "users": [reader, peer]})
        history = api.post("/chats/add", {"name": "history", "users": [author, peer]})["id"]
        for i in range(HISTORY_MESSAGES):
            api.post("/messages/add", {"chat": history, "author": author, "text": f"history {i}"})
        hot = api.post("/chats/add", {"name": "hot", "users": [author, peer]})["id"]
        bulk = [
            api.post("/chats/add", {"name": f"bulk-{i}", "users": [author, peer]})["id"]
            for i in range(BULK_CHATS)
        ]
        crowd = [api.post("/users/add", {"username": f"crowd-{i}"})["id"] for i in range(CROWD - 1)]
        big = api.post("/chats/add", {"name": "big", "users": [author, *crowd]})["id"]
    finally:
        api.close()
    # The random-chat Lua script draws ids from a range: they must be contiguous.
    if bulk != list(range(bulk[0], bulk[0] + BULK_CHATS)):
        raise RuntimeError("bulk chat ids are not contiguous")
    return Seeded(reader, author, peer, history, hot, bulk[0], bulk[-1], big)
