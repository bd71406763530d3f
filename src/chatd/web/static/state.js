// What the client knows, and how it changes: a pure module. Stream frames, HTTP replies and
// what the person does come in as actions; `reduce(state, action)` returns the next state and
// never touches the page, the network or a timer, so node's test runner covers it
// (tests/js/state.test.mjs).
//
// Loads and events: a load's snapshot (GET /chats, GET /chats/{id}) may be older than events
// that arrive while it is in flight, so frames wait in `held` while any load is in flight and
// are replayed on top of its result. Each load has a ticket; a later load of the same kind
// (or a new session) supersedes an earlier one, whose result is then dropped. This is the one
// concurrency guard of the client. Every event is an upsert, so replaying one changes nothing.
//
// What the reducer cannot do itself (fetch a chat it has not heard of, learn names, mark a
// chat read) it asks for in `effects`; main.js takes them out and runs them.

// The server's EXCERPT_LENGTH (src/chatd/api/render.py): tests/unit/test_js.py checks they match.
export const PREVIEW_LENGTH = 200;
export const TYPING_SHOW_MS = 6000; // how long "bob is typing…" shows after his last signal
export const TYPING_SEND_MS = 2000; // the server drops a second signal sooner (per chat)

export function initialState(ticket = 0) {
  return {
    me: null,
    names: new Map(), // user id -> username
    chats: new Map(), // chat id -> chat, as GET /chats/{id} shows it
    scopeAll: false,
    open: null, // { id, messages: Map, beforeSeq, loading, loadingOlder } | { draft: true, user }
    notice: null, // why no chat is open
    editing: null, // { id, text }: the message being edited, kept across re-renders
    ops: [], // the outbox (outbox.js): sends, edits and deletes not yet confirmed, typed order
    echoes: new Map(), // op key -> id of the message the stream showed before the reply came
    connection: "connecting",
    blocked: false,
    errors: { sidebar: null, chat: null, details: null }, // { text, offline }
    maxLength: null, // of a message, once the server has said (CHATD_MAX_TEXT_LENGTH)
    ticket, // the last load ticket handed out; never goes back, across sessions too
    current: {}, // kind -> the ticket of the load whose result counts
    loads: [], // tickets in flight: frames are held while any is
    held: [],
    reloadFailed: false,
    visible: true, // the page is seen: the open chat's messages are read as they arrive
    asking: null, // id of the message whose Delete asks for a second click
    restore: null, // id of the chat to reopen once the chat list is loaded (after a reload)
    search: null, // { q, results, next }: the sidebar shows what a search found
    reply: null, // { chat, id, author, excerpt }: what the composer's message replies to
    typing: new Map(), // "chat user" -> until when (ms) the user shows as typing there
    online: new Map(), // user id -> true | false, from GET /users and presence events
    effects: [],
  };
}

export function isModerator(state) {
  return Boolean(state.me && state.me.role === "moderator");
}

export function nameOf(state, id) {
  return state.names.get(id) || `user ${id}`;
}

export function chatTitle(state, chat) {
  if (chat.name) return chat.name;
  const others = chat.users.filter((id) => !state.me || id !== state.me.id);
  return others.length ? others.map((id) => nameOf(state, id)).join(", ") : "private chat";
}

export function sortedChats(state) {
  return [...state.chats.values()].sort(
    (a, b) => b.last_message_at.localeCompare(a.last_message_at) || b.id - a.id,
  );
}

export function unreadTotal(state) {
  let total = 0;
  for (const chat of state.chats.values()) total += chat.unread_count || 0;
  return total;
}

// A chat list line's text, as the server's GET /chats would show it.
export function excerptOf(state, chat) {
  const last = chat.last_message;
  if (!last) return "No messages yet";
  const text = last.deleted ? "message deleted" : last.excerpt;
  return chat.users.length > 2 || !chat.is_private ? `${nameOf(state, last.author)}: ${text}` : text;
}

export function preview(message) {
  return {
    id: message.id,
    seq: message.seq,
    author: message.author,
    excerpt: message.deleted ? null : (message.text || "").slice(0, PREVIEW_LENGTH),
    created_at: message.created_at,
    edited: Boolean(message.edited_at),
    deleted: message.deleted,
  };
}

// ---- the reducer ----------------------------------------------------------------------------

export function reduce(state, action) {
  const handler = HANDLERS[action.type];
  return handler ? readWhileOpen(handler(state, action)) : state;
}

// The chat that is open on a page being looked at is read: whatever brought it an unread count
// (a message, a load, an event), it shows none, not even for the moment before the read marker
// reaches the server. Its last_read_seq stays what the server said, so the marker still goes.
function readWhileOpen(s) {
  const open = s.open;
  if (!open || open.draft || !s.visible) return s;
  const chat = s.chats.get(open.id);
  return chat && (chat.unread_count || chat.mention_count)
    ? setChat(s, { ...chat, unread_count: 0, mention_count: 0 })
    : s;
}

const HANDLERS = {
  "session.started": (s, a) => ({
    ...initialState(s.ticket),
    me: a.me,
    names: new Map([[a.me.id, a.me.username]]),
    maxLength: s.maxLength,
    visible: s.visible,
    restore: a.restore ?? null,
  }),
  "session.ended": (s) => ({ ...initialState(s.ticket), maxLength: s.maxLength, visible: s.visible }),
  visibility: (s, a) => ({ ...s, visible: a.visible }),
  // Deleting a message asks first (a second click), the way deleting a chat does; the question
  // lives here, not in the button, so the list can be redrawn meanwhile. main.js lapses it.
  "delete.asked": (s, a) => ({ ...s, asking: a.id }),
  "delete.settled": (s, a) => (s.asking === a.id ? { ...s, asking: null } : s),
  "limit.learned": (s, a) => ({ ...s, maxLength: a.maxLength }),
  "names.learned": (s, a) => learn(s, a.users),
  connection: (s, a) => {
    // An error that only said the server was out of reach is over once it answers again.
    const errors = { ...s.errors };
    if (a.status === "live") {
      for (const where of Object.keys(errors)) if (errors[where]?.offline) errors[where] = null;
    }
    return { ...s, connection: a.status, errors };
  },
  blocked: (s) => ({ ...s, blocked: true, connection: "blocked" }),
  error: (s, a) => ({
    ...s,
    errors: { ...s.errors, [a.where]: a.text ? { text: a.text, offline: Boolean(a.offline) } : null },
  }),
  scope: (s, a) => ({ ...s, scopeAll: a.all }),
  "load.begin": (s, a) => {
    const ticket = s.ticket + 1;
    return { ...s, ticket, current: { ...s.current, [a.kind]: ticket }, loads: [...s.loads, ticket] };
  },
  "load.end": loadEnd,
  // Typing and presence are not in the change log: nothing a load shows is newer, no wait.
  frame: (s, a) => {
    const ephemeral = EPHEMERAL[a.frame.type];
    if (ephemeral) return ephemeral(s, a.frame, a.now);
    return s.loads.length ? { ...s, held: [...s.held, a.frame] } : applyFrame(s, a.frame);
  },
  "typing.expire": (s, a) => ({ ...s, typing: new Map([...s.typing].filter(([, t]) => t > a.now)) }),
  "search.shown": (s, a) => {
    const results = a.more && s.search ? [...s.search.results, ...a.results] : a.results;
    const search = { q: a.q, results, next: a.next, error: a.error || null };
    return wantNames({ ...s, search }, a.results.map((r) => r.message.author));
  },
  "search.closed": (s) => ({ ...s, search: null }),
  // The message to scroll to and mark (a search result, a quoted reply): once per object.
  target: (s, a) => (s.open && !s.open.draft ? { ...s, open: { ...s.open, target: { id: a.id } } } : s),
  "reply.start": (s, a) => ({ ...s, reply: a.reply }),
  "reply.stop": (s) => ({ ...s, reply: null }),
  reactions: (s, a) => reactionsChanged(s, a.message),
  "chat.changed": (s, a) => chatChanged(s, a.chat),
  "chat.gone": (s, a) => chatGone(s, a.id, a.how),
  "chat.opening": (s, a) => {
    if (!s.chats.has(a.id) || (s.open && s.open.id === a.id && !s.open.loading)) return s;
    // What is typed from the click on goes to the chat just picked, even before it has loaded.
    const open = { id: a.id, messages: new Map(), beforeSeq: null, loading: true, loadingOlder: false };
    return { ...s, open, editing: null, notice: null };
  },
  "draft.opened": (s, a) => ({
    ...s, open: { draft: true, user: a.user, messages: new Map(), beforeSeq: null }, editing: null,
    notice: null, names: new Map(s.names).set(a.user.id, a.user.username),
  }),
  "chat.closed": (s, a) => ({ ...s, open: null, editing: null, notice: a.notice || null }),
  "older.begin": (s) => {
    if (!s.open || s.open.draft) return s;
    return { ...s, open: { ...s.open, loadingOlder: true } };
  },
  "older.end": (s, a) => {
    if (!s.open || s.open.draft || s.open.id !== a.id) return s;
    const open = { ...s.open, loadingOlder: false };
    if (a.messages) {
      open.messages = new Map(open.messages);
      for (const m of a.messages) upsertInto(open.messages, m);
      open.beforeSeq = a.beforeSeq;
    }
    return { ...s, open };
  },
  "read.updated": (s, a) => {
    const chat = s.chats.get(a.chat);
    if (!chat) return s;
    const last_read_seq = Math.max(chat.last_read_seq, a.last_read_seq);
    const mention_count = last_read_seq >= chat.last_seq ? 0 : chat.mention_count;
    return setChat(s, {
      ...chat, last_read_seq, unread_count: unread(chat.last_seq, last_read_seq), mention_count,
    });
  },
  "edit.start": (s, a) => ({ ...s, editing: { id: a.id, text: a.text } }),
  "edit.input": (s, a) => (s.editing ? { ...s, editing: { ...s.editing, text: a.text } } : s),
  "edit.stop": (s) => ({ ...s, editing: null }),
  outbox: outboxChanged,
};

function learn(s, users) {
  const names = new Map(s.names);
  const online = new Map(s.online);
  for (const user of users) {
    names.set(user.id, user.username);
    if (typeof user.online === "boolean") online.set(user.id, user.online);
  }
  return { ...s, names, online };
}

function wantNames(s, ids) {
  // Whether one is online is learned with the name (GET /users), as soon as a chat is shared.
  const unknown = [...new Set(ids)].filter((id) => !s.names.has(id) || !s.online.has(id));
  return unknown.length ? { ...s, effects: [...s.effects, { type: "names", ids: unknown }] } : s;
}

function unread(lastSeq, lastReadSeq) {
  // The server counts unread as last_seq - last_read_seq: so does the client, after any change.
  return Math.max(0, lastSeq - lastReadSeq);
}

// Who types in `chat` at `now` (not me: the server does not send my own).
export function typers(s, chat, now) {
  const ids = [];
  for (const [key, until] of s.typing) {
    const [c, user] = key.split(" ").map(Number);
    if (c === chat && until > now && (!s.me || user !== s.me.id)) ids.push(user);
  }
  return ids;
}

export function typingLine(s, chat, now) {
  const names = typers(s, chat, now).map((id) => nameOf(s, id));
  if (!names.length) return "";
  if (names.length > 2) return `${names.length} people are typing…`;
  return `${names.join(" and ")} ${names.length > 1 ? "are" : "is"} typing…`;
}

// May a typing signal go now, the last one for the chat having gone at `last` (ms)?
export function typingDue(last, now) {
  return last === undefined || now - last >= TYPING_SEND_MS;
}

// A click on a reaction takes mine back if it is there, else puts it on.
export function reactionMethod(message, emoji) {
  const mine = (message.reactions || []).some((r) => r.emoji === emoji && r.me);
  return mine ? "DELETE" : "PUT";
}

function setChat(s, chat) {
  return { ...s, chats: new Map(s.chats).set(chat.id, chat) };
}

// A tombstone beats text, and a later edit beats an earlier one: a reply that comes back after
// the stream showed something newer changes nothing.
function newer(a, b) {
  if (!a) return b;
  if (a.deleted && !b.deleted) return a;
  if (b.deleted && !a.deleted) return b;
  return Date.parse(a.edited_at || 0) > Date.parse(b.edited_at || 0) ? a : b;
}

function upsertInto(messages, message) {
  messages.set(message.id, newer(messages.get(message.id), message));
}

// ---- loads ----------------------------------------------------------------------------------

function loadEnd(s, a) {
  if (!s.loads.includes(a.ticket)) return s; // a load of an ended session
  let next = { ...s, loads: s.loads.filter((t) => t !== a.ticket) };
  if (s.current[a.kind] === a.ticket && s.me) {
    if (a.error) next = loadFailed(next, a);
    else next = a.kind === "chats" ? chatsLoaded(next, a.result) : chatLoaded(next, a.result);
  }
  if (next.loads.length) return next;
  const held = next.held;
  next = { ...next, held: [] };
  for (const frame of held) next = applyFrame(next, frame);
  return next;
}

function loadFailed(s, a) {
  const sidebar = { text: a.error.text, offline: a.error.offline };
  let next = { ...s, errors: { ...s.errors, sidebar } };
  if (a.kind === "chats") next.reloadFailed = true; // retried on the next connection
  if (a.kind === "open" && a.error.status === 404) {
    const chats = new Map(s.chats);
    chats.delete(a.result.id);
    next.chats = chats;
    if (s.open && s.open.loading && s.open.id === a.result.id) next.open = null;
  }
  return next;
}

function chatsLoaded(s, result) {
  let next = learn({ ...s, reloadFailed: false }, result.users || []);
  next.chats = new Map(result.chats.map((chat) => [chat.id, chat]));
  next.errors = { ...next.errors, sidebar: null };
  // After a reload, the chat that was open opens again, if it is still there to open.
  if (next.restore !== null) {
    if (!next.open && next.chats.has(next.restore)) {
      next.effects = [...next.effects, { type: "reopen", id: next.restore }];
    }
    next.restore = null;
  }
  const open = next.open;
  if (open && !open.draft) {
    if (next.chats.has(open.id) || next.scopeAll) {
      next.effects = [...next.effects, { type: "reopen", id: open.id }];
    } else {
      next = { ...next, open: null, editing: null, notice: "This chat is gone." };
    }
  }
  return next;
}

function chatLoaded(s, result) {
  const { chat, messages, beforeSeq, reopen } = result;
  let next = learn(s, result.users || []);
  const open = { id: chat.id, messages: new Map(), beforeSeq, loadingOlder: false };
  for (const m of messages) upsertInto(open.messages, m);
  next = { ...next, open, editing: reopen ? s.editing : null, notice: null };
  next = setChat(next, chat);
  return { ...next, effects: [...next.effects, { type: "read" }] };
}

// ---- events ---------------------------------------------------------------------------------

function applyFrame(s, frame) {
  switch (frame.type) {
    case "message.created":
    case "message.edited":
    case "message.deleted":
      return messageArrived(s, frame.message, frame.type === "message.created");
    case "chat.created":
    case "chat.updated":
    case "member.added":
      return chatChanged(s, frame.chat);
    case "member.removed":
    case "chat.deleted":
      return chatGone(s, frame.chat.id, frame.type === "chat.deleted" ? "deleted" : "removed");
    case "message.reactions":
      return reactionsChanged(s, frame.message);
    case "chat.read":
      return HANDLERS["read.updated"](s, {
        chat: frame.chat.id,
        last_read_seq: frame.chat.last_read_seq,
      });
    default:
      return s; // a newer server's event: nothing to show for it yet
  }
}

function messageArrived(s, message, created) {
  let next = s;
  const chat = s.chats.get(message.chat);
  if (!chat) {
    // A moderator's stream carries every chat: one not listed here is not theirs to list.
    if (!s.scopeAll && !isModerator(s)) {
      next = { ...next, effects: [...next.effects, { type: "fetchChat", id: message.chat }] };
    }
  } else if (message.seq > chat.last_seq) {
    const mine = s.me && message.author === s.me.id; // sending reads
    const last_read_seq = mine ? message.seq : chat.last_read_seq;
    const mention_count = (chat.mention_count || 0) + (message.mentions_me && !mine ? 1 : 0);
    next = setChat(next, {
      ...chat, last_seq: message.seq, last_message_at: message.created_at,
      last_message: preview(message), last_read_seq, unread_count: unread(message.seq, last_read_seq),
      mention_count,
    });
  } else if (chat.last_message && chat.last_message.id === message.id) {
    next = setChat(next, { ...chat, last_message: preview(message) });
  }
  const typed = `${message.chat} ${message.author}`;
  if (created && next.typing.has(typed)) {
    const typing = new Map(next.typing);
    typing.delete(typed); // the message he typed has come: he is no longer typing it
    next = { ...next, typing };
  }
  const open = s.open;
  if (open && !open.draft && open.id === message.chat) {
    const messages = new Map(open.messages);
    upsertInto(messages, message);
    next = { ...next, open: { ...open, messages } };
    next = echo(next, message, created);
    next = wantNames(next, [message.author]);
    if (created) next = { ...next, effects: [...next.effects, { type: "read" }] };
  }
  return next;
}

// Our own send, seen on the stream before its reply: the one send in flight in its chat with
// the same text (one at a time per chat: outbox.js) is this message, and stops showing pending.
function echo(s, message, created) {
  if (!created || !s.me || message.author !== s.me.id) return s;
  const op = s.ops.find(
    (o) => o.kind === "send" && o.status === "sending" && o.text === message.text &&
      (o.chat === message.chat || o.chat === undefined) && !s.echoes.has(o.key),
  );
  return op ? { ...s, echoes: new Map(s.echoes).set(op.key, message.id) } : s;
}

const EPHEMERAL = {
  typing: (s, f, now) => ({
    ...s, typing: new Map(s.typing).set(`${f.chat} ${f.user}`, now + TYPING_SHOW_MS),
  }),
  presence: (s, f) => ({ ...s, online: new Map(s.online).set(f.user, f.online) }),
};

// New totals of a message's reactions (the stream's event, or the reply to my PUT or DELETE).
function reactionsChanged(s, m) {
  const open = s.open;
  const known = open && !open.draft && open.id === m.chat && open.messages.get(m.id);
  if (!known) return s;
  const messages = new Map(open.messages).set(m.id, { ...known, reactions: m.reactions });
  return { ...s, open: { ...open, messages } };
}

function chatChanged(s, chat) {
  if (!s.scopeAll && s.me && !chat.users.includes(s.me.id)) {
    // A moderator hears of every chat; "my chats" lists only theirs.
    return s.chats.has(chat.id) ? chatGone(s, chat.id, "removed") : s;
  }
  const known = s.chats.get(chat.id);
  // A replayed event may be older than what HTTP already showed: keep the newer history.
  const merged = known && known.last_seq > chat.last_seq
    ? { ...known, name: chat.name, users: chat.users, owner: chat.owner, is_private: chat.is_private }
    : chat;
  return wantNames(setChat(s, merged), chat.users);
}

function chatGone(s, id, how) {
  const chats = new Map(s.chats);
  chats.delete(id);
  const next = { ...s, chats };
  if (s.open && s.open.id === id && (how === "deleted" || !s.scopeAll)) {
    const notice = how === "deleted" ? "This chat was deleted." : "You are no longer in this chat.";
    return { ...next, open: null, editing: null, notice };
  }
  return next;
}

// ---- the outbox's view ----------------------------------------------------------------------

// The outbox's latest snapshot, and, when an operation has just succeeded, its reply: both in
// one step, so a sent message never shows twice nor disappears for a moment.
function outboxChanged(s, a) {
  const keys = new Set(a.ops.map((op) => op.key));
  const echoes = new Map([...s.echoes].filter(([key]) => keys.has(key)));
  let next = { ...s, ops: a.ops, echoes };
  const done = a.done;
  if (!done) return next;
  if (done.op.kind === "delete") {
    const known = s.open && !s.open.draft && s.open.messages.get(done.op.message);
    if (known) next = messageArrived(next, { ...known, text: null, deleted: true }, false);
  } else if (done.reply) {
    next = messageArrived(next, done.reply, done.op.kind === "send");
  }
  return next;
}
