"""Graceful shutdown: what SIGTERM (or Ctrl-C) does to `chatd serve`, and chatd's two changes
to uvicorn's way of doing it.

    SIGTERM
    uvicorn closes the listener           a new connection is refused by the kernel: the client
                                          retries it elsewhere
    each open connection is told:
      idle HTTP keep-alive                closed at once
      a request in flight                 answered, then closed (`Connection: close`)
      a WebSocket                         close frame 1001 "going away" (GoingAwayWebSocket),
                                          then closed: the client resumes elsewhere from its pos
    wait, up to CHATD_SHUTDOWN_TIMEOUT    for the requests in flight, whose writes wait in the
                                          group commit: they are committed, then answered
    cut off what still runs               a write already queued still commits (the group
                                          commit shields it) and its client, unanswered, retries
                                          with its Idempotency-Key: the key replays the reply
    the app's lifespan ends (app.py)      the group commit drains, then the hub, the database
    exit 0                                (exit_zero_after_sigterm)
"""

from __future__ import annotations

import signal
from types import FrameType

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

GOING_AWAY = 1001
REASON = "the server is shutting down: reconnect and resume"


class GoingAwayWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol (websockets-sansio), closing with 1001 at shutdown.

    uvicorn closes a server's WebSockets with 1012 ("service restart"), which promises this
    server back soon; chatd's replicas behind a load balancer make 1001 ("going away") the
    truer word: the server goes, the stream goes on elsewhere. A client reconnects on either;
    this is the code the issue and README name. The close is sent here, by the protocol, in
    the same step in which uvicorn stops accepting: the app would be told too late to send its
    own (uvicorn has written its close frame by the time the app hears of the shutdown)."""

    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()  # closing already, or not yet a WebSocket: uvicorn's way
            return
        self.stop_keepalive()
        if self.conn.state is not State.OPEN:
            # The client's close came first and was answered: a second close frame would
            # raise here, in the middle of uvicorn's loop over every connection.
            self.transport.close()
            return
        # The stream's handler hears the disconnect and ends (api/v1/stream.py).
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, REASON)
        # close_sent stays False, as in uvicorn's own: the stream's sends that follow then
        # fail as a lost client's do (WebSocketDisconnect), not as a protocol misuse.
        self.transport.write(b"".join(self.conn.data_to_send()))
        # close() sends what is buffered first (events before the close frame), then FIN.
        self.transport.close()


def exit_zero_after_sigterm() -> None:
    """Makes a SIGTERM that uvicorn has handled gracefully end the process with status 0.

    uvicorn takes SIGTERM while it serves and, once shut down, raises it again against the
    handler that was there before, so that an embedding program hears of it: with Python's
    default that kills the process (status -15, as if it had not shut down cleanly). A SIGTERM
    before uvicorn listens also ends the process, with status 0, before it serves."""

    def exit_zero(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_zero)
