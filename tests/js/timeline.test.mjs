// What the message view shows (src/chatd/web/static/timeline.js): the order of confirmed and
// pending items, what waits says, and the length rules of a text.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { lengthCheck, newestSeq, opStatus, textLength, timeline, tooLong } from "../../src/chatd/web/static/timeline.js";
import { initialState } from "../../src/chatd/web/static/state.js";
import { ME, created, msg, run, session } from "./fixtures.mjs";

describe("text", () => {
  test("length counts code points, as the server does", () => {
    assert.equal(textLength("😀😀"), 2);
    assert.equal("😀😀".length, 4);
    assert.equal(tooLong("😀".repeat(10), 10), null);
    assert.equal(tooLong("😀".repeat(12), 10), "Too long: 12 characters, at most 10. Shorten it by 2.");
  });

  test("the counter shows from 80% of the limit, and marks what is over", () => {
    assert.equal(lengthCheck("a".repeat(79), 100).show, false);
    assert.deepEqual(lengthCheck("a".repeat(80), 100), { length: 80, show: true, over: false, label: "80 / 100" });
    assert.equal(lengthCheck("a".repeat(101), 100).over, true);
    assert.equal(lengthCheck("a".repeat(5000), null).show, false, "no limit known: no counter");
  });
});

describe("the outbox on the page", () => {
  const op = (fields) => ({ kind: "send", chat: 10, status: "queued", key: "k", ...fields });

  test("pending sends follow the confirmed messages in the order typed", () => {
    const ops = ["1", "2", "3"].map((t) => op({ key: `k${t}`, text: `typed ${t}`, status: "waiting", reason: "offline" }));
    const s = run(session([msg(1)]), { type: "outbox", ops });
    assert.deepEqual(timeline(s).map((i) => i.text), ["text 1", "typed 1", "typed 2", "typed 3"]);
    assert.match(timeline(s)[1].status, /^Not sent yet: no connection/);
  });

  test("a draft's sends show in it, also once the chat the first one made is known", () => {
    let s = run(initialState(), { type: "session.started", me: ME });
    s = run(s, { type: "draft.opened", user: { id: 2, username: "bob" } });
    s = run(s, { type: "outbox", ops: [
      op({ key: "a", chat: undefined, user: 2, text: "one", status: "sending" }),
      op({ key: "b", chat: 42, user: 2, text: "two" }),
      op({ key: "c", chat: 43, text: "elsewhere" }),
    ] });
    assert.deepEqual(timeline(s).map((i) => i.text), ["one", "two"]);
  });

  test("a reply replaces its pending send in one step; an echo first hides it", () => {
    let s = run(session(), { type: "outbox", ops: [op({ key: "a", text: "hi", status: "sending" })] });
    s = run(s, created(msg(7, { author: 1, text: "hi" })));
    assert.deepEqual(timeline(s).map((i) => i.kind), ["message"]);
    s = run(s, { type: "outbox", ops: [], done: { op: op({ key: "a", text: "hi" }), reply: msg(7, { author: 1, text: "hi" }) } });
    assert.deepEqual(timeline(s).map((i) => [i.kind, i.text]), [["message", "hi"]]);
    assert.equal(s.echoes.size, 0);
  });

  test("an edit that waits shows its text; a delete that waits cannot be edited again", () => {
    let s = session([msg(1, { author: 1 }), msg(2, { author: 1 })]);
    s = run(s, { type: "outbox", ops: [
      op({ kind: "edit", message: 1, text: "better", status: "waiting", reason: "offline" }),
      op({ kind: "delete", message: 2, key: "d", status: "waiting", reason: "offline" }),
    ] });
    const [edited, deleted] = timeline(s);
    assert.equal(edited.text, "better");
    assert.match(edited.status, /^Not saved yet/);
    assert.equal(deleted.canEdit, false);
    assert.match(deleted.status, /^Not deleted yet/);
  });

  test("a delete confirmed leaves a tombstone", () => {
    let s = session([msg(1, { author: 1 })]);
    s = run(s, { type: "outbox", ops: [], done: { op: op({ kind: "delete", message: 1 }), reply: null } });
    assert.equal(s.open.messages.get(1).deleted, true);
  });

  test("what waits says why and until when", () => {
    const until = new Date(2026, 11, 6, 20, 15, 3).getTime();
    assert.match(opStatus(op({ status: "waiting", reason: "rate_limited", until })), /^Not sent yet: too many messages at once \(rate limited\); retrying at \d\d?:15:03/);
    assert.equal(opStatus(op({ status: "failed", error: "text too long" })), "Not sent: text too long");
    assert.equal(opStatus(op({ kind: "edit", status: "sending" })), "Saving…");
  });
});

describe("what the view tells", () => {
  test("a message's Delete asks while the state asks, and only if it can be deleted", () => {
    let s = run(session([msg(1, { author: 1 }), msg(2)]), { type: "delete.asked", id: 1 });
    assert.deepEqual(timeline(s).map((i) => i.asking), [true, false]);
    s = run(s, { type: "outbox", ops: [{ kind: "delete", chat: 10, message: 1, key: "d", status: "sending" }] });
    assert.equal(timeline(s)[0].asking, false, "a delete on its way asks nothing");
  });

  test("the newest message's seq grows when one arrives, not when an older page or a send does", () => {
    let s = session([msg(5), msg(6)]);
    assert.equal(newestSeq(timeline(s)), 6);
    s = run(s, { type: "older.end", id: 10, messages: [msg(1), msg(2)], beforeSeq: null });
    s = run(s, { type: "outbox", ops: [{ kind: "send", chat: 10, key: "k", text: "hi", status: "queued" }] });
    assert.equal(newestSeq(timeline(s)), 6);
    assert.equal(newestSeq(timeline(run(s, created(msg(7))))), 7);
  });
});
