"""The HTTP ceiling: chatd's server stack answering a fixed small JSON, with no storage.

`fastapi` is a FastAPI app on uvicorn with uvloop and httptools, one worker, the settings of
`chatd serve` (src/chatd/cli.py): no database request of chatd can be faster than this.
`asgi` is a bare ASGI callable on the same uvicorn, for orientation: what FastAPI costs.

    python -m bench.ceiling fastapi|asgi --port PORT
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

BODY = b'{"id":1}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/ceiling")
    async def ceiling(request: Request) -> Response:
        await request.body()  # chatd reads every body too
        return Response(BODY, media_type="application/json")

    return app


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("app", choices=("fastapi", "asgi"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        fastapi_app() if args.app == "fastapi" else asgi_app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
