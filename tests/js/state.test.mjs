// The client's state (src/chatd/web/static/state.js): pure, so every rule is a few lines here.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  PREVIEW_LENGTH, chatTitle, excerptOf, initialState, reactionMethod, sortedChats, typers,
  typingDue, typingLine, unreadTotal,
} from "../../src/chatd/web/static/state.js";
import { ME, chat, created, msg, run, session } from "./fixtures.mjs";

describe("loads and events", () => {
  test("previews are cut where the server cuts them", () => {
    assert.equal(PREVIEW_LENGTH, 200);
    let s = session();
    s = run(s, created(msg(1, { text: "x".repeat(500) })));
    assert.equal(s.chats.get(10).last_message.excerpt.length, 200);
  });

  test("frames wait while a load is in flight and apply on top of its result", () => {
    let s = run(initialState(), { type: "session.started", me: ME }, { type: "load.begin", kind: "chats" });
    const ticket = s.ticket;
    s = run(s, { type: "frame", frame: { type: "chat.created", chat: chat(12, { last_seq: 3 }) } });
    assert.equal(s.chats.size, 0);
    assert.equal(s.held.length, 1);
    s = run(s, { type: "load.end", kind: "chats", ticket, result: { chats: [chat(10)] } });
    assert.deepEqual([...s.chats.keys()].sort(), [10, 12]);
    assert.equal(s.held.length, 0);
  });

  test("a later load of the same kind supersedes an earlier one still in flight", () => {
    let s = run(initialState(), { type: "session.started", me: ME }, { type: "load.begin", kind: "chats" });
    const first = s.ticket;
    s = run(s, { type: "load.begin", kind: "chats" });
    const second = s.ticket;
    s = run(s, { type: "load.end", kind: "chats", ticket: second, result: { chats: [chat(11)] } });
    s = run(s, { type: "load.end", kind: "chats", ticket: first, result: { chats: [chat(10)] } });
    assert.deepEqual([...s.chats.keys()], [11]);
    assert.equal(s.loads.length, 0);
  });

  test("a load of an ended session changes nothing", () => {
    let s = run(initialState(), { type: "session.started", me: ME }, { type: "load.begin", kind: "chats" });
    const old = s.ticket;
    s = run(s, { type: "session.ended" }, { type: "session.started", me: ME });
    s = run(s, { type: "load.end", kind: "chats", ticket: old, result: { chats: [chat(10)] } });
    assert.equal(s.chats.size, 0);
    assert.ok(s.ticket >= old, "tickets never go back");
  });

  test("a message updates its chat's preview and unread count; our own marks it read", () => {
    let s = session();
    s = run(s, created(msg(1, { chat: 11 })), created(msg(2, { chat: 11 })));
    assert.equal(s.chats.get(11).unread_count, 2);
    assert.equal(unreadTotal(s), 2);
    s = run(s, created(msg(3, { chat: 11, author: 1 })));
    assert.equal(s.chats.get(11).unread_count, 0);
    assert.equal(excerptOf(s, s.chats.get(11)), "alice: text 3");
  });

  test("a message of a chat not listed asks for the chat", () => {
    const s = run(session(), created(msg(1, { chat: 99 })));
    assert.deepEqual(s.effects, [{ type: "fetchChat", id: 99 }]);
  });

  test("an edit the stream showed is not undone by an older reply", () => {
    let s = session([msg(1)]);
    const edited = msg(1, { text: "new", edited_at: "2026-12-06T10:05:00.000000Z" });
    s = run(s, { type: "frame", frame: { type: "message.edited", message: edited } });
    s = run(s, { type: "load.begin", kind: "open" });
    s = run(s, { type: "load.end", kind: "open", ticket: s.ticket, result: { chat: chat(10), messages: [msg(1)], beforeSeq: null, reopen: true } });
    s = run(s, { type: "frame", frame: { type: "message.deleted", message: msg(1, { text: null, deleted: true }) } });
    s = run(s, { type: "frame", frame: { type: "message.edited", message: edited } });
    assert.equal(s.open.messages.get(1).deleted, true);
  });

  test("a replayed chat event keeps the newer history HTTP showed", () => {
    let s = session();
    s = run(s, created(msg(5, { chat: 11, seq: 5 })));
    s = run(s, { type: "frame", frame: { type: "chat.updated", chat: chat(11, { name: "renamed", last_seq: 2 }) } });
    assert.equal(s.chats.get(11).name, "renamed");
    assert.equal(s.chats.get(11).last_seq, 5);
  });

  test("the open chat deleted closes it and says so", () => {
    const s = run(session(), { type: "frame", frame: { type: "chat.deleted", chat: { id: 10 } } });
    assert.equal(s.open, null);
    assert.equal(s.notice, "This chat was deleted.");
  });

  test("'cannot reach the server' goes once the connection is live again", () => {
    let s = run(session(), { type: "error", where: "chat", text: "Cannot reach the server.", offline: true });
    s = run(s, { type: "error", where: "details", text: "Not allowed." });
    s = run(s, { type: "connection", status: "live" });
    assert.equal(s.errors.chat, null);
    assert.equal(s.errors.details.text, "Not allowed.");
  });

  test("chats sort by activity, and a private chat is titled by the other person", () => {
    let s = session();
    s = run(s, created(msg(1, { chat: 11 })));
    assert.deepEqual(sortedChats(s).map((c) => c.id), [11, 10]);
    assert.equal(chatTitle(s, chat(20, { name: null, is_private: true })), "bob");
  });
});


describe("the open chat is read", () => {
  test("a message in the open chat shows no unread count, and the read marker still goes", () => {
    let s = session([msg(1)]);
    s = run(s, created(msg(2)));
    assert.equal(s.chats.get(10).unread_count, 0);
    assert.equal(s.chats.get(10).last_read_seq, 0, "what the server knows, for the marker to move");
    assert.deepEqual(s.effects.filter((e) => e.type === "read"), [{ type: "read" }]);
    assert.equal(unreadTotal(s), 0);
  });

  test("a load or an event that says the open chat is unread does not show it", () => {
    let s = session();
    s = run(s, { type: "frame", frame: { type: "chat.updated", chat: chat(10, { last_seq: 3, unread_count: 3 }) } });
    assert.equal(s.chats.get(10).unread_count, 0);
  });

  test("while the page is hidden it counts; seen again, it is read", () => {
    let s = run(session(), { type: "visibility", visible: false });
    s = run(s, created(msg(1)), created(msg(2)));
    assert.equal(s.chats.get(10).unread_count, 2);
    s = run(s, { type: "visibility", visible: true });
    assert.equal(s.chats.get(10).unread_count, 0);
  });

  test("a chat not open still counts", () => {
    const s = run(session(), created(msg(1, { chat: 11 })));
    assert.equal(s.chats.get(11).unread_count, 1);
  });
});

describe("a reload", () => {
  const load = (s, chats) => {
    s = run(s, { type: "load.begin", kind: "chats" });
    return run(s, { type: "load.end", kind: "chats", ticket: s.ticket, result: { chats } });
  };

  test("reopens the chat that was open once the chat list is loaded", () => {
    let s = run(initialState(), { type: "session.started", me: ME, restore: 11 });
    assert.equal(s.restore, 11);
    s = load(s, [chat(10), chat(11)]);
    assert.deepEqual(s.effects, [{ type: "reopen", id: 11 }]);
    assert.equal(s.restore, null);
    s = load({ ...s, effects: [] }, [chat(10), chat(11)]);
    assert.deepEqual(s.effects, [], "once");
  });

  test("a chat gone meanwhile just shows the list", () => {
    const s = load(run(initialState(), { type: "session.started", me: ME, restore: 12 }), [chat(10)]);
    assert.deepEqual(s.effects, []);
    assert.equal(s.open, null);
    assert.equal(s.notice, null);
    assert.equal(s.restore, null);
  });
});

describe("deleting a message asks first", () => {
  test("the question is in the state, survives a message arriving, and is settled once", () => {
    let s = run(session([msg(1, { author: 1 })]), { type: "delete.asked", id: 1 });
    s = run(s, created(msg(2)));
    assert.equal(s.asking, 1);
    assert.equal(run(s, { type: "delete.settled", id: 2 }).asking, 1, "another message's lapse");
    assert.equal(run(s, { type: "delete.settled", id: 1 }).asking, null);
  });
});

describe("issue 18: replies, reactions, mentions, typing, presence", () => {
  const frame = (f, now = 1000) => ({ type: "frame", frame: f, now });

  test("typing shows for 6 s, until the typist's message comes, never my own", () => {
    let s = session();
    s = run(s, frame({ type: "typing", chat: 10, user: 2 }, 1000));
    assert.equal(typingLine(s, 10, 1000), "bob is typing…");
    assert.equal(typingLine(s, 11, 1000), "");
    assert.deepEqual(typers(s, 10, 6999), [2]);
    assert.deepEqual(typers(s, 10, 7000), []);
    s = run(s, { type: "typing.expire", now: 7000 });
    assert.equal(s.typing.size, 0);
    s = run(s, frame({ type: "typing", chat: 10, user: 2 }, 8000), created(msg(1)));
    assert.equal(typingLine(s, 10, 8001), "");
    s = run(s, frame({ type: "typing", chat: 10, user: 1 }, 9000));
    assert.equal(typingLine(s, 10, 9001), "");
  });

  test("typing and presence apply at once, even while a load holds frames", () => {
    let s = run(session(), { type: "load.begin", kind: "chats" });
    s = run(s, frame({ type: "typing", chat: 10, user: 2 }), frame({ type: "presence", user: 2, online: true }));
    assert.equal(s.held.length, 0);
    assert.equal(s.typing.size, 1);
    assert.equal(s.online.get(2), true);
  });

  test("a typing signal goes at most once per 2 s per chat", () => {
    assert.equal(typingDue(undefined, 5), true);
    assert.equal(typingDue(1000, 2999), false);
    assert.equal(typingDue(1000, 3000), true);
  });

  test("presence comes from profiles and events, the later one winning", () => {
    let s = run(session(), { type: "names.learned", users: [{ id: 3, username: "carol", online: true }] });
    assert.equal(s.online.get(3), true);
    s = run(s, frame({ type: "presence", user: 3, online: false, last_seen_at: null }));
    assert.equal(s.online.get(3), false);
    s = run(s, { type: "names.learned", users: [{ id: 4, username: "dan", online: null }] });
    assert.equal(s.online.has(4), false);
  });

  test("reaction totals replace the message's, from the stream or a reply", () => {
    let s = session([msg(1, { reactions: [] })]);
    const reactions = [{ emoji: "👍", count: 2, me: true }];
    s = run(s, frame({ type: "message.reactions", pos: 5, message: { id: 1, chat: 10, reactions } }));
    assert.deepEqual(s.open.messages.get(1).reactions, reactions);
    assert.equal(reactionMethod(s.open.messages.get(1), "👍"), "DELETE");
    assert.equal(reactionMethod(s.open.messages.get(1), "🎉"), "PUT");
    s = run(s, { type: "reactions", message: { id: 1, chat: 10, reactions: [] } });
    assert.deepEqual(s.open.messages.get(1).reactions, []);
    assert.equal(reactionMethod(s.open.messages.get(1), "👍"), "PUT");
  });

  test("a message mentioning me counts in another chat, and reading it clears the count", () => {
    let s = session();
    s = run(s, created(msg(1, { chat: 11, mentions: [1], mentions_me: true })));
    s = run(s, created(msg(2, { chat: 11, seq: 2 })));
    assert.equal(s.chats.get(11).mention_count, 1);
    s = run(s, { type: "read.updated", chat: 11, last_read_seq: 2 });
    assert.equal(s.chats.get(11).mention_count, 0);
    s = run(s, created(msg(3, { chat: 10, mentions: [1], mentions_me: true })));
    assert.equal(s.chats.get(10).mention_count, 0); // open and seen
  });

  test("the target of a search result or a quote is set once per request", () => {
    let s = session([msg(1)]);
    s = run(s, { type: "target", id: 1 });
    const first = s.open.target;
    s = run(s, { type: "target", id: 1 });
    assert.equal(s.open.target.id, 1);
    assert.notEqual(s.open.target, first);
  });

  test("search results add up across pages and ask for the authors' names", () => {
    const result = (id, author) => ({ message: msg(id, { author }), highlights: [] });
    let s = run(session(), { type: "search.shown", q: "x", results: [result(1, 7)], next: "c" });
    assert.deepEqual(s.effects, [{ type: "names", ids: [7] }]);
    s = run(s, { type: "search.shown", q: "x", more: true, results: [result(2, 2)], next: null });
    assert.deepEqual(s.search.results.map((r) => r.message.id), [1, 2]);
    s = run(s, { type: "search.closed" });
    assert.equal(s.search, null);
  });
});
