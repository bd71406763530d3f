// The WebSocket stream (README, "Real-time"): authenticate with the first frame, resume from
// the last position processed, reconnect with backoff. Events are handed over in order; `pos`
// advances only after the handler has run, so an event is never skipped across a reconnect.

const PING_EVERY_MS = 15000;
const MAX_BACKOFF_MS = 30000;

export class Stream {
  // handlers: { ready(pos, resumed), event(frame), resync(), status(state), stopped(code) }
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.pos = null; // the last position processed
    this.socket = null;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
    this.pinger = null;
    this.pingSent = 0; // when the unanswered ping went out, or 0
    this.live = false; // authenticated: the server reads what is sent
    // The browser knows before the socket does: a connection whose network went away may stay
    // "open" for a long time, so it is dropped at once, and picked up again when back online.
    this.onOnline = () => this.reconnectNow();
    this.onOffline = () => this.drop();
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
  }

  start() {
    this.connect();
  }

  connect() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.handlers.status(this.attempt === 0 && this.pos === null ? "connecting" : "reconnecting");
    if (!navigator.onLine) return; // the "online" event reconnects
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.socket = socket;
    socket.onopen = () => {
      const auth = { type: "auth", token: this.token };
      if (this.pos !== null) auth.pos = this.pos;
      socket.send(JSON.stringify(auth));
    };
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => this.lost(socket, event.code);
    socket.onerror = () => {}; // onclose follows, and decides
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    this.pingSent = 0; // anything from the server proves the connection alive
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "ready") {
      const resumed = this.pos !== null;
      this.attempt = 0;
      this.pos = frame.pos;
      this.handlers.status("live");
      // Browsers cannot send WebSocket pings: a ping frame gets a pong, and a connection that
      // leaves a ping unanswered until the next tick is dead even if the browser has not
      // noticed. (Timers in a background tab may tick once a minute: only an unanswered ping
      // counts, never mere silence.)
      this.pingSent = 0;
      this.pinger = setInterval(() => {
        if (this.pingSent) {
          this.drop();
        } else if (socket.readyState === WebSocket.OPEN) {
          this.pingSent = Date.now();
          socket.send('{"type":"ping"}');
        }
      }, PING_EVERY_MS);
      this.live = true;
      this.handlers.ready(frame.pos, resumed);
      return;
    }
    if (frame.type === "pong") return;
    if (frame.type === "resync_required") {
      this.handlers.resync();
      this.pos = frame.pos;
      return;
    }
    this.handlers.event(frame);
    if (typeof frame.pos === "number") this.pos = frame.pos;
  }

  lost(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.pinger);
    this.socket = null;
    this.live = false;
    if (this.closed) return;
    if (code === 4001 || code === 4003) {
      this.closed = true;
      this.handlers.stopped(code);
      return;
    }
    this.handlers.status("reconnecting");
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  // A frame for the server (typing): dropped while not live, as the server drops a late one.
  send(frame) {
    const socket = this.live && this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }

  drop() {
    const socket = this.socket;
    if (!socket) return;
    socket.close();
    this.lost(socket, 1006);
  }

  reconnectNow() {
    if (this.closed || this.socket) return;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }
}
