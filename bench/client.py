"""A small JSON client over one keep-alive connection, for seeding through the API."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


class ApiError(RuntimeError):
    pass


class ApiClient:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        self.conn.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise ApiError(f"POST {path} {body} -> {response.status} {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        self.conn.close()
