// What the client's state tests share: a session with chats 10 and 11, and chat 10 open.
import { initialState, reduce } from "../../src/chatd/web/static/state.js";

export const ME = { id: 1, username: "alice", role: "user" };

export function chat(id, fields = {}) {
  return {
    id, name: `chat ${id}`, users: [1, 2], owner: 1, is_private: false, last_seq: 0,
    last_read_seq: 0, unread_count: 0, last_message_at: "2026-12-06T10:00:00.000000Z",
    last_message: null, ...fields,
  };
}

export function msg(id, fields = {}) {
  return {
    id, chat: 10, seq: id, author: 2, text: `text ${id}`, created_at: "2026-12-06T10:00:00.000000Z",
    edited_at: null, deleted: false, ...fields,
  };
}

export const created = (message) => ({ type: "frame", frame: { type: "message.created", message } });

export function run(state, ...actions) {
  return actions.reduce(reduce, state);
}

// A session with chat 10 (and 11) listed and chat 10 open, showing `messages`.
export function session(messages = []) {
  let s = run(initialState(), { type: "session.started", me: ME });
  s = run(s, { type: "load.begin", kind: "chats" });
  s = run(s, { type: "load.end", kind: "chats", ticket: s.ticket, result: { chats: [chat(10), chat(11)], users: [{ id: 2, username: "bob" }] } });
  s = run(s, { type: "chat.opening", id: 10 }, { type: "load.begin", kind: "open" });
  s = run(s, { type: "load.end", kind: "open", ticket: s.ticket, result: { chat: chat(10, { last_seq: messages.length }), messages, beforeSeq: null } });
  return { ...s, effects: [] };
}

