// The outbox: every write to a chat's history (send, edit, delete) goes through one FIFO queue
// per chat, so the server gets them in the order they were typed. One operation per chat is in
// flight at a time; each has its own Idempotency-Key, kept across retries, so a retry of a
// request whose reply was lost is answered with the first reply instead of writing twice.
//
// When the head of a queue fails:
// - transiently (no answer: offline or server down, 5xx, 429, or its twin still running), the
//   queue pauses: the head is retried after a backoff (or the Retry-After of a 429), or at once
//   when resume() is called (the browser is back online, the stream is live again). Nothing
//   behind it overtakes it.
// - for good (a 4xx: too long, not a member, the chat or message gone), the head is marked
//   failed and the queue goes on with the next one: a refused message must not hold back the
//   ones typed after it forever. The person sees it failed, with why, and can edit it (a new
//   operation, with a new key, at the end of the queue) or discard it.
// - 401 or user_blocked: nothing more can be written; the outbox stops and says so (onFatal).
//
// No DOM here: the transport (op -> Promise of the reply, or throws an ApiError-like
// { status, code, message, retryAfter }), the clock and the timers are injected, so the unit
// tests (tests/js/outbox.test.mjs) drive it with fakes.

const MAX_BACKOFF_MS = 30000;

export function classify(error) {
  if (error.status === 401 || error.code === "user_blocked") return "fatal";
  if (error.status === 0) return "offline";
  if (error.status === 429) return "rate_limited";
  if (error.code === "idempotency_key_in_use") return "busy";
  if (error.status >= 500 || error.status === undefined) return "server";
  return "failed";
}

export class Outbox {
  constructor({
    transport, newKey, onChange = () => {}, onFatal = () => {}, timers = globalThis, now = Date.now,
  }) {
    this.transport = transport;
    this.onChange = onChange;
    this.onFatal = onFatal;
    this.newKey = newKey;
    this.timers = timers;
    this.now = now;
    this.ops = []; // every queue's operations, in the order they were added
    this.queues = new Map(); // queue -> { inflight, paused: { reason, until } | null, attempt, timer }
    this.stopped = null; // a reason once nothing can be written any more
  }

  // op: { kind: "send" | "edit" | "delete", chat, user (a send to a private chat not yet made),
  // message (for edit and delete), text }. Returns the operation as queued, with its key.
  add(fields) {
    const queue = this.queueFor(fields);
    const op = { ...fields, key: this.newKey(), queue, status: "queued" };
    this.ops.push(op);
    this.emit();
    this.pump(queue);
    return op;
  }

  // Sends to a private chat made by an earlier send of the same queue stay behind it.
  queueFor({ chat, user }) {
    if (chat !== undefined) {
      const before = this.ops.find((op) => op.chat === chat);
      return before ? before.queue : `chat:${chat}`;
    }
    return `user:${user}`;
  }

  // A failed or still queued operation can be dropped; one in flight cannot be called back.
  discard(key) {
    const op = this.ops.find((o) => o.key === key);
    if (!op || op.status === "sending") return null;
    this.ops = this.ops.filter((o) => o !== op);
    this.emit();
    this.pump(op.queue);
    return op;
  }

  // Retry now what waits for the server to answer again (back online, the stream live again);
  // what the rate limit holds back waits for its Retry-After: earlier would be refused again.
  resume() {
    if (this.stopped) return;
    for (const [name, queue] of this.queues) {
      if (!queue.paused || queue.paused.reason === "rate_limited") continue;
      this.timers.clearTimeout(queue.timer);
      queue.paused = null;
      this.pump(name);
    }
  }

  clear() {
    for (const queue of this.queues.values()) this.timers.clearTimeout(queue.timer);
    this.queues.clear();
    this.ops = [];
    this.stopped = "cleared";
  }

  queue(name) {
    if (!this.queues.has(name)) {
      this.queues.set(name, { inflight: null, paused: null, attempt: 0, timer: null });
    }
    return this.queues.get(name);
  }

  pump(name) {
    const queue = this.queue(name);
    if (this.stopped || queue.inflight || queue.paused) return;
    const head = this.ops.find((op) => op.queue === name && op.status !== "failed");
    if (head) this.deliver(name, queue, head);
  }

  async deliver(name, queue, op) {
    queue.inflight = op;
    op.status = "sending";
    this.emit();
    let reply;
    try {
      reply = await this.transport(op);
    } catch (error) {
      queue.inflight = null;
      if (this.stopped === "cleared") return;
      this.failed(name, queue, op, error);
      return;
    }
    queue.inflight = null;
    if (this.stopped === "cleared") return;
    queue.attempt = 0;
    this.ops = this.ops.filter((o) => o !== op);
    if (op.kind === "send" && reply && reply.chat !== undefined) {
      // A send to a private chat made it: later ones show there (their request stays the same).
      for (const later of this.ops) {
        if (later.queue === name && later.chat === undefined) later.chat = reply.chat;
      }
    }
    this.emit({ op: { ...op, chat: op.chat ?? reply?.chat }, reply });
    this.pump(name);
  }

  failed(name, queue, op, error) {
    const kind = classify(error);
    if (kind === "fatal") {
      this.stopped = "blocked";
      op.status = "queued";
      for (const q of this.queues.values()) q.paused = { reason: "blocked", until: null };
      this.emit();
      this.onFatal(error);
      return;
    }
    if (kind === "failed") {
      op.status = "failed";
      op.error = error.message;
      op.code = error.code;
      this.emit();
      this.pump(name);
      return;
    }
    queue.attempt += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (queue.attempt - 1));
    const wait = kind === "rate_limited" && error.retryAfter != null ? error.retryAfter * 1000 : backoff;
    op.status = "queued";
    queue.paused = { reason: kind, until: this.now() + wait };
    queue.timer = this.timers.setTimeout(() => {
      queue.paused = null;
      this.pump(name);
    }, wait);
    this.emit();
  }

  // What the page shows: copies, each with why its queue waits and until when.
  snapshot() {
    return this.ops.map((op) => {
      const paused = this.queues.get(op.queue)?.paused;
      const view = { ...op };
      if (op.status === "queued" && paused) {
        view.status = "waiting";
        view.reason = paused.reason;
        view.until = paused.until;
      }
      return view;
    });
  }

  emit(done = null) {
    this.onChange(this.snapshot(), done);
  }
}
