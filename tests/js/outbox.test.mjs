// The outbox (src/chatd/web/static/outbox.js) with a fake transport and a fake clock: order,
// one request in flight per chat, retries with the same key, and what waits says why.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Outbox, classify } from "../../src/chatd/web/static/outbox.js";

// Timers that run only when the test says time has passed.
class FakeTime {
  constructor() {
    this.ms = 1_000_000;
    this.timers = new Map();
    this.next = 1;
  }
  now = () => this.ms;
  setTimeout = (fn, ms) => {
    const id = this.next++;
    this.timers.set(id, { fn, at: this.ms + ms });
    return id;
  };
  clearTimeout = (id) => this.timers.delete(id);
  async advance(ms) {
    this.ms += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at <= this.ms) {
        this.timers.delete(id);
        timer.fn();
      }
    }
    await settle();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

// A server the test answers request by request: each call waits for answer() or fail().
class FakeServer {
  constructor() {
    this.calls = [];
  }
  transport = (op) => new Promise((resolve, reject) => this.calls.push({ op, resolve, reject }));
  inFlight() {
    return this.calls.filter((c) => !c.done);
  }
  async answer(reply = {}) {
    const call = this.inFlight()[0];
    call.done = true;
    call.resolve({ id: call.op.key, chat: call.op.chat ?? 99, text: call.op.text, ...reply });
    await settle();
  }
  async fail(error) {
    const call = this.inFlight()[0];
    call.done = true;
    call.reject(error);
    await settle();
  }
}

function setUp() {
  const time = new FakeTime();
  const server = new FakeServer();
  const changes = [];
  const fatal = [];
  let n = 0;
  const outbox = new Outbox({
    transport: server.transport,
    onChange: (ops, done) => changes.push({ ops, done }),
    onFatal: (error) => fatal.push(error),
    newKey: () => `k${++n}`,
    timers: time,
    now: time.now,
  });
  return { time, server, outbox, changes, fatal };
}

const offline = { status: 0, code: "offline", message: "Cannot reach the server." };

describe("outbox", () => {
  test("one request in flight per chat, in the order added; chats do not wait for each other", async () => {
    const { server, outbox } = setUp();
    for (const text of ["a1", "a2", "a3"]) outbox.add({ kind: "send", chat: 1, text });
    outbox.add({ kind: "send", chat: 2, text: "b1" });
    assert.deepEqual(server.inFlight().map((c) => c.op.text), ["a1", "b1"]);
    await server.answer();
    assert.deepEqual(server.inFlight().map((c) => c.op.text), ["b1", "a2"]);
    await server.answer();
    await server.answer();
    await server.answer();
    assert.deepEqual(server.calls.map((c) => c.op.text), ["a1", "b1", "a2", "a3"]);
    assert.deepEqual(outbox.snapshot(), []);
  });

  test("offline: the head waits, nothing overtakes it, and its key stays the same", async () => {
    const { server, outbox, time } = setUp();
    for (const text of ["1", "2", "3"]) outbox.add({ kind: "send", chat: 1, text });
    await server.fail(offline);
    const waiting = outbox.snapshot();
    assert.deepEqual(waiting.map((op) => [op.text, op.status, op.reason]), [
      ["1", "waiting", "offline"], ["2", "waiting", "offline"], ["3", "waiting", "offline"],
    ]);
    assert.equal(server.inFlight().length, 0);
    await time.advance(1000); // the first backoff
    assert.deepEqual(server.inFlight().map((c) => [c.op.text, c.op.key]), [["1", "k1"]]);
    await server.fail(offline);
    await time.advance(1000);
    assert.equal(server.inFlight().length, 0, "the second backoff is longer");
    outbox.resume(); // back online: at once
    assert.deepEqual(server.inFlight().map((c) => [c.op.text, c.op.key]), [["1", "k1"]]);
    await server.answer();
    await server.answer();
    await server.answer();
    assert.deepEqual(server.calls.map((c) => c.op.text), ["1", "1", "1", "2", "3"]);
  });

  test("429: waits Retry-After, and says so with the time it retries", async () => {
    const { server, outbox, time } = setUp();
    outbox.add({ kind: "send", chat: 1, text: "x" });
    outbox.add({ kind: "send", chat: 1, text: "y" });
    await server.fail({ status: 429, code: "rate_limited", message: "slow down", retryAfter: 7 });
    const [head, next] = outbox.snapshot();
    assert.equal(head.reason, "rate_limited");
    assert.equal(head.until, time.ms + 7000);
    assert.equal(next.reason, "rate_limited");
    outbox.resume(); // back online changes nothing: the server said when
    await time.advance(6999);
    assert.equal(server.inFlight().length, 0);
    await time.advance(1);
    assert.equal(server.inFlight()[0].op.text, "x");
  });

  test("a refusal for good marks that one failed and lets the next go", async () => {
    const { server, outbox, changes } = setUp();
    outbox.add({ kind: "send", chat: 1, text: "too long" });
    outbox.add({ kind: "send", chat: 1, text: "fine" });
    await server.fail({ status: 400, code: "invalid_text", message: "text must be at most 5 characters" });
    assert.equal(server.inFlight()[0].op.text, "fine");
    await server.answer();
    const [failed] = outbox.snapshot();
    assert.deepEqual([failed.text, failed.status, failed.error], ["too long", "failed", "text must be at most 5 characters"]);
    assert.equal(changes.findLast((c) => c.done).done.op.text, "fine");
    assert.equal(outbox.discard(failed.key).text, "too long");
    assert.deepEqual(outbox.snapshot(), []);
  });

  test("an operation in flight cannot be discarded; a queued one can", async () => {
    const { server, outbox } = setUp();
    const first = outbox.add({ kind: "send", chat: 1, text: "1" });
    const second = outbox.add({ kind: "send", chat: 1, text: "2" });
    assert.equal(outbox.discard(first.key), null);
    assert.equal(outbox.discard(second.key).text, "2");
    await server.answer();
    assert.equal(server.calls.length, 1);
  });

  test("edits and deletes wait behind the sends typed before them", async () => {
    const { server, outbox } = setUp();
    outbox.add({ kind: "send", chat: 1, text: "hello" });
    outbox.add({ kind: "edit", chat: 1, message: 5, text: "edited" });
    outbox.add({ kind: "delete", chat: 1, message: 6 });
    await server.fail(offline);
    outbox.resume();
    await server.answer();
    await server.answer({ id: 5 });
    await server.answer();
    assert.deepEqual(server.calls.map((c) => c.op.kind), ["send", "send", "edit", "delete"]);
  });

  test("sends to a private chat not made yet stay in one queue and learn its chat", async () => {
    const { server, outbox, changes } = setUp();
    outbox.add({ kind: "send", user: 7, text: "first" });
    outbox.add({ kind: "send", user: 7, text: "second" });
    await server.answer({ chat: 42 });
    assert.equal(changes.findLast((c) => c.done).done.op.chat, 42);
    assert.equal(outbox.snapshot()[0].chat, 42);
    outbox.add({ kind: "send", chat: 42, text: "third" }); // typed in the chat once it opened
    await server.answer({ chat: 42 });
    assert.equal(server.inFlight()[0].op.text, "third");
    assert.deepEqual(server.calls.map((c) => c.op.user), [7, 7, undefined]);
  });

  test("401 or a blocked account stops every queue", async () => {
    const { server, outbox, fatal, time } = setUp();
    outbox.add({ kind: "send", chat: 1, text: "a" });
    outbox.add({ kind: "send", chat: 2, text: "b" });
    await server.fail({ status: 403, code: "user_blocked", message: "blocked" });
    assert.equal(fatal.length, 1);
    await server.answer();
    outbox.add({ kind: "send", chat: 3, text: "c" });
    outbox.resume();
    await time.advance(60_000);
    assert.equal(server.inFlight().length, 0);
    assert.equal(outbox.snapshot().find((op) => op.text === "a").reason, "blocked");
  });

  test("a cleared outbox (logged out) drops replies still on their way", async () => {
    const { server, outbox, changes } = setUp();
    outbox.add({ kind: "send", chat: 1, text: "a" });
    outbox.clear();
    const seen = changes.length;
    await server.answer();
    assert.equal(changes.length, seen);
  });

  test("classify", () => {
    assert.equal(classify({ status: 0 }), "offline");
    assert.equal(classify({ status: 503 }), "server");
    assert.equal(classify({ status: 429 }), "rate_limited");
    assert.equal(classify({ status: 409, code: "idempotency_key_in_use" }), "busy");
    assert.equal(classify({ status: 409, code: "message_deleted" }), "failed");
    assert.equal(classify({ status: 404 }), "failed");
    assert.equal(classify({ status: 401 }), "fatal");
  });
});
