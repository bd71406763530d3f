// chatd's web client: the screens, the state they show, and how events change it.
//
// The state is loaded over HTTP after the stream is ready, so nothing committed in between is
// missed; events that arrive while it loads are held and applied after it. Every event is an
// upsert of the record it carries, so applying one twice changes nothing.
//
// Text from users is only ever set with textContent: it is shown, never parsed as markup.

import { Api, ApiError, describe } from "./api.js";
import { Stream } from "./stream.js";

const PAGE = 50;
const TOKEN_KEY = "chatd.token";
const api = new Api();
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  chats: new Map(), // id -> chat, as GET /chats/{id} shows it
  names: new Map(), // user id -> username
  open: null, // { id, messages: Map(id -> message), beforeSeq, loadingOlder } or a draft
  pending: [], // sends not yet confirmed: { key, chat, text, state, error }
  scopeAll: false,
  stream: null,
  loading: 0, // loads in flight: events wait for them (hold/release below)
  held: [],
  blocked: false,
  generation: 0, // of reload(): a later one supersedes an earlier one still in flight
  reloadFailed: false,
  editing: null, // { id, text } of the message being edited, kept across re-renders
};

// ---- small helpers ----------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, value === true ? "" : value);
    }
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function say(node, text) {
  node.textContent = text || "";
  show(node, Boolean(text));
}

function newKey() {
  // crypto.randomUUID() needs a secure context; a server on a LAN address over http is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function when(iso) {
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

function nameOf(id) {
  return state.names.get(id) || `user ${id}`;
}

function chatTitle(chat) {
  if (chat.name) return chat.name;
  const others = chat.users.filter((id) => id !== state.me.id);
  return others.length ? others.map(nameOf).join(", ") : "private chat";
}

// The server counts unread as last_seq - last_read_seq: so does the client, after any change.
function recount(chat) {
  chat.unread_count = Math.max(0, chat.last_seq - chat.last_read_seq);
}

// Events that arrive while a load is in flight wait for it, then apply on top of what it got.
function hold() {
  state.loading += 1;
}

function release() {
  state.loading -= 1;
  if (state.loading > 0) return;
  const held = state.held;
  state.held = [];
  for (const frame of held) apply(frame);
}

function isModerator() {
  return state.me && state.me.role === "moderator";
}

async function learnNames(ids) {
  const unknown = [...new Set(ids)].filter((id) => !state.names.has(id));
  for (let i = 0; i < unknown.length; i += 100) {
    const query = unknown.slice(i, i + 100).map((id) => `id=${id}`).join("&");
    const found = await api.get(`/users?${query}`);
    for (const user of found.users) state.names.set(user.id, user.username);
  }
}

async function userByName(username) {
  const found = await api.get(`/users?username=${encodeURIComponent(username.trim())}`);
  if (!found.users.length) throw new ApiError(404, "user_not_found", `No user "${username}".`);
  const user = found.users[0];
  state.names.set(user.id, user.username);
  return user;
}

// ---- logging in and out -------------------------------------------------------------------

async function logIn(register) {
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!username || !password) {
    say(error, "Enter a username and a password.");
    return;
  }
  say(error, "");
  $("login-button").disabled = $("register-button").disabled = true;
  try {
    if (register) await api.post("/users", { username, password });
    const session = await api.post("/auth/tokens", { username, password });
    sessionStorage.setItem(TOKEN_KEY, session.token);
    await start(session.token);
  } catch (err) {
    const wrong = err instanceof ApiError && err.status === 401 && !register;
    say(error, wrong ? "Wrong username or password." : describe(err));
  } finally {
    $("login-button").disabled = $("register-button").disabled = false;
  }
}

async function start(token) {
  api.token = token;
  try {
    state.me = await api.get("/me");
  } catch (err) {
    api.token = null;
    if (err instanceof ApiError && err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY); // expired or revoked: log in again
      return;
    }
    say($("login-error"), `${describe(err)} Reload the page to try again.`);
    return;
  }
  state.names.set(state.me.id, state.me.username);
  $("me").textContent = state.me.username + (isModerator() ? " (moderator)" : "");
  show($("scope-label"), isModerator());
  show($("moderation"), isModerator());
  show($("login-screen"), false);
  show($("app-screen"), true);
  hold(); // until the first `ready` and the load after it
  let first = true;
  state.stream = new Stream(token, {
    ready: (_pos, resumed) => {
      if (first) {
        first = false;
        reload().finally(release);
      } else if (!resumed || state.reloadFailed) {
        reload();
      }
    },
    event: (frame) => (state.loading ? state.held.push(frame) : apply(frame)),
    resync: () => reload(),
    status: (status) => showConnection(status),
    stopped: (code) => stopped(code),
  });
  state.stream.start();
}

async function logOut() {
  try {
    await api.delete("/auth/tokens/current");
  } catch {
    // The token may already be gone (blocked, expired): logging out locally is what matters.
  }
  reset();
}

function reset() {
  if (state.stream) state.stream.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  api.token = null;
  for (const pending of state.pending) clearTimeout(pending.timer);
  Object.assign(state, {
    me: null, chats: new Map(), open: null, pending: [], stream: null, held: [], loading: 0,
    blocked: false, scopeAll: false, editing: null, reloadFailed: false,
  });
  state.generation += 1; // a load still in flight belongs to the old session
  state.names.clear();
  $("scope-all").checked = false;
  $("composer-input").value = "";
  for (const id of ["new-chat-name", "new-chat-members", "direct-username", "block-username"]) {
    $(id).value = "";
  }
  $("moderation-status").textContent = "";
  for (const id of ["sidebar-error", "chat-error", "details-error"]) say($(id), "");
  $("chat-list").replaceChildren();
  $("messages").replaceChildren();
  say($("banner"), "");
  show($("chat-view"), false);
  show($("chat-empty"), true);
  document.body.classList.remove("chat-open", "blocked");
  show($("app-screen"), false);
  show($("login-screen"), true);
  $("login-username").value = ""; // a shared computer keeps nothing of the session
  $("login-password").value = "";
  $("login-username").focus();
}

function stopped(code) {
  if (code === 4003) {
    state.blocked = true;
    document.body.classList.add("blocked");
    say($("banner"), "Your account has been blocked by a moderator.");
    showConnection("blocked");
    return;
  }
  reset();
  say($("login-error"), "Your session has ended. Log in again.");
}

function showConnection(status) {
  const labels = {
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    live: "Connected",
    blocked: "Blocked",
  };
  const node = $("connection");
  node.textContent = labels[status] || status;
  node.dataset.state = status;
}

// Any request may learn that the token is gone (revoked, user blocked).
function failed(err, where) {
  if (err instanceof ApiError && err.status === 401) {
    if (!state.blocked) stopped(4001);
    return;
  }
  if (err instanceof ApiError && err.code === "user_blocked") {
    stopped(4003);
    return;
  }
  say(where, describe(err));
}

// ---- loading state --------------------------------------------------------------------------

async function reload() {
  const generation = ++state.generation;
  hold();
  try {
    const chats = new Map();
    let cursor = null;
    do {
      const scope = state.scopeAll ? "&scope=all" : "";
      const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = await api.get(`/chats?limit=100${scope}${after}`);
      for (const chat of page.chats) chats.set(chat.id, chat);
      cursor = page.next_cursor;
    } while (cursor && chats.size < 1000);
    if (generation !== state.generation) return; // superseded, or logged out
    state.chats = chats;
    state.reloadFailed = false;
    await learnNames([...chats.values()].flatMap((chat) => chat.users));
    if (state.open && !state.open.draft) {
      if (chats.has(state.open.id) || state.scopeAll) await openChat(state.open.id);
      else closeChat("This chat is gone.");
    }
  } catch (err) {
    // Retried on the next connection; a page that shows nothing says why meanwhile.
    state.reloadFailed = true;
    failed(err, $("sidebar-error"));
  } finally {
    release();
    if (state.me) renderChats();
  }
}

// ---- events -------------------------------------------------------------------------------

function apply(frame) {
  switch (frame.type) {
    case "message.created":
    case "message.edited":
    case "message.deleted":
      messageChanged(frame.message, frame.type === "message.created");
      break;
    case "chat.created":
    case "chat.updated":
    case "member.added":
      chatChanged(frame.chat);
      break;
    case "member.removed":
    case "chat.deleted":
      chatGone(frame.chat.id, frame.type === "chat.deleted" ? "deleted" : "removed");
      break;
    case "chat.read": {
      const chat = state.chats.get(frame.chat.id);
      if (chat) {
        chat.last_read_seq = Math.max(chat.last_read_seq, frame.chat.last_read_seq);
        recount(chat);
        renderChats();
      }
      break;
    }
    default:
      break; // a newer server's event: nothing to show for it yet
  }
}

function preview(message) {
  const text = message.text || "";
  return {
    id: message.id,
    seq: message.seq,
    author: message.author,
    excerpt: message.deleted ? null : text.slice(0, 100),
    created_at: message.created_at,
    edited: Boolean(message.edited_at),
    deleted: message.deleted,
  };
}

function messageChanged(message, created) {
  const chat = state.chats.get(message.chat);
  if (!chat) {
    // A moderator's stream carries every chat: one not listed here is not theirs to list.
    if (!state.scopeAll && !isModerator()) fetchChat(message.chat);
  } else {
    if (message.seq > chat.last_seq) {
      chat.last_seq = message.seq;
      chat.last_message_at = message.created_at;
      chat.last_message = preview(message);
      if (message.author === state.me.id) chat.last_read_seq = message.seq; // sending reads
      recount(chat);
    } else if (chat.last_message && chat.last_message.id === message.id) {
      chat.last_message = preview(message);
    }
    renderChats();
  }
  const open = state.open;
  if (open && !open.draft && open.id === message.chat) {
    confirmPending(message);
    open.messages.set(message.id, message);
    learnNames([message.author]).then(renderMessages, () => renderMessages());
    renderMessages();
    if (created) markRead();
  }
}

function confirmPending(message) {
  if (message.author !== state.me.id || state.open.messages.has(message.id)) return;
  const index = state.pending.findIndex(
    (p) => p.chat === message.chat && p.text === message.text && p.id === undefined,
  );
  if (index >= 0) state.pending[index].id = message.id;
}

async function fetchChat(id) {
  try {
    const found = await api.get(`/chats/${id}?limit=1`);
    delete found.messages;
    delete found.before_seq;
    chatChanged(found);
  } catch {
    // Gone already, or not ours: the next event or reload settles it.
  }
}

function chatChanged(chat) {
  if (!state.scopeAll && !chat.users.includes(state.me.id)) {
    // A moderator hears of every chat; "my chats" lists only theirs.
    if (state.chats.has(chat.id)) chatGone(chat.id, "removed");
    return;
  }
  const known = state.chats.get(chat.id);
  // A replayed event may be older than what HTTP already showed: keep the newer history.
  if (known && known.last_seq > chat.last_seq) {
    Object.assign(known, {
      name: chat.name, users: chat.users, owner: chat.owner, is_private: chat.is_private,
    });
  } else {
    state.chats.set(chat.id, chat);
  }
  learnNames(chat.users).then(renderAll, renderAll);
  renderAll();
}

function chatGone(id, how) {
  state.chats.delete(id);
  if (state.open && state.open.id === id && (how === "deleted" || !state.scopeAll)) {
    closeChat(how === "deleted" ? "This chat was deleted." : "You are no longer in this chat.");
  }
  renderChats();
}

function renderAll() {
  renderChats();
  if (state.open && !state.open.draft) {
    renderHeader();
    renderMessages();
  }
}

// ---- the chat list --------------------------------------------------------------------------

function renderChats() {
  const list = $("chat-list");
  const chats = [...state.chats.values()].sort(
    (a, b) => b.last_message_at.localeCompare(a.last_message_at) || b.id - a.id,
  );
  const items = chats.map((chat) => {
    const last = chat.last_message;
    let excerpt = "No messages yet";
    if (last) {
      excerpt = last.deleted ? "message deleted" : last.excerpt;
      if (chat.users.length > 2 || !chat.is_private) excerpt = `${nameOf(last.author)}: ${excerpt}`;
    }
    const unread = chat.unread_count > 0
      ? el("span", { class: "unread", text: String(chat.unread_count),
        "aria-label": `${chat.unread_count} unread` })
      : null;
    const button = el(
      "button",
      {
        type: "button",
        class: "chat-item",
        "data-chat": String(chat.id),
        "aria-current": state.open && state.open.id === chat.id ? "true" : false,
        onclick: () => openChat(chat.id),
      },
      el("span", { class: "chat-name", text: chatTitle(chat) }),
      el("time", { class: "chat-time", datetime: chat.last_message_at,
        text: when(chat.last_message_at) }),
      el("span", { class: "chat-excerpt", text: excerpt }),
      unread,
    );
    return el("li", {}, button);
  });
  const focus = focusWithin(list, "[data-chat]");
  list.replaceChildren(...items);
  focus();
  show($("no-chats"), chats.length === 0);
}

// ---- one chat -------------------------------------------------------------------------------

let opening = 0;
async function openChat(id) {
  say($("chat-error"), "");
  const ticket = ++opening;
  const keepScroll = Boolean(state.open && state.open.id === id && !state.open.loading);
  if (!keepScroll && state.chats.has(id)) {
    // What is typed from the click on goes to the chat just picked, even before it has loaded
    // (a send made meanwhile went to the chat open before: seen in a browser test).
    state.editing = null;
    state.open = { id, messages: new Map(), beforeSeq: null, loadingOlder: false, loading: true };
    renderHeader();
  }
  hold(); // a message that commits after the snapshot below arrives as an event: after it
  try {
    const found = await api.get(`/chats/${id}?limit=${PAGE}`);
    await learnNames([...found.users, ...found.messages.map((m) => m.author)]);
    if (ticket !== opening || !state.me) return; // another chat was opened meanwhile
    if (!keepScroll) state.editing = null;
    state.open = {
      id,
      messages: new Map(found.messages.map((m) => [m.id, m])),
      beforeSeq: found.before_seq,
      loadingOlder: false,
    };
    delete found.messages;
    delete found.before_seq;
    state.chats.set(id, found);
    document.body.classList.add("chat-open");
    show($("chat-empty"), false);
    show($("chat-view"), true);
    renderHeader();
    renderMessages({ toBottom: !keepScroll });
    renderChats();
    markRead();
    if (!keepScroll) $("composer-input").focus();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      state.chats.delete(id);
      if (state.open && state.open.loading && state.open.id === id) closeChat();
      renderChats();
    }
    failed(err, $("sidebar-error"));
  } finally {
    release();
  }
}

function openDraft(user) {
  state.open = { draft: true, user, messages: new Map(), beforeSeq: null };
  document.body.classList.add("chat-open");
  show($("chat-empty"), false);
  show($("chat-view"), true);
  renderHeader();
  renderMessages();
  renderChats();
  $("composer-input").focus();
}

function closeChat(notice) {
  state.open = null;
  document.body.classList.remove("chat-open");
  show($("chat-view"), false);
  show($("chat-empty"), true);
  $("chat-empty").textContent = notice || "Pick a chat.";
  renderChats();
}

function renderHeader() {
  const open = state.open;
  if (open.draft) {
    $("chat-title").textContent = open.user.username;
    show($("details-button"), false);
    show($("chat-details"), false);
    return;
  }
  const chat = state.chats.get(open.id);
  if (!chat) return;
  $("chat-title").textContent = chatTitle(chat);
  show($("details-button"), true);
  const owner = chat.owner === state.me.id;
  const manage = !chat.is_private && (owner || isModerator());
  show($("rename-form"), manage);
  show($("add-member-form"), manage);
  show($("leave-button"), !chat.is_private && chat.users.includes(state.me.id));
  show($("delete-chat-button"), owner || isModerator());
  if (document.activeElement !== $("rename-input")) $("rename-input").value = chat.name || "";
  const members = chat.users.map((id) => {
    const remove = manage && id !== state.me.id
      ? el("button", {
        type: "button", class: "secondary small", text: "Remove",
        "aria-label": `Remove ${nameOf(id)}`,
        onclick: () => {
          const now = state.chats.get(chat.id);
          if (now) changeChat({ users: now.users.filter((u) => u !== id) });
        },
      })
      : null;
    const block = isModerator() && id !== state.me.id
      ? el("button", {
        type: "button", class: "danger small", text: "Block",
        "aria-label": `Block ${nameOf(id)}`, onclick: () => setBlocked(nameOf(id), true),
      })
      : null;
    const role = id === chat.owner ? " (owner)" : "";
    return el("li", {}, el("span", { text: nameOf(id) + role }), remove, block);
  });
  $("member-list").replaceChildren(...members);
}

function renderMessages({ toBottom = false } = {}) {
  const open = state.open;
  if (!open) return;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const confirmed = [...open.messages.values()].sort((a, b) => a.seq - b.seq);
  const mine = state.pending.filter((p) =>
    open.draft ? p.draftUser === open.user.id : p.chat === open.id && !open.messages.has(p.id));
  const items = confirmed.map(messageItem);
  for (const pending of mine) items.push(pendingItem(pending));
  if (open.beforeSeq !== null && open.beforeSeq !== undefined) {
    items.unshift(el("li", { class: "hint", text: open.loadingOlder ? "Loading…" : "Scroll up for older messages" }));
  }
  const focus = focusWithin(list, "[data-message], [data-pending]");
  list.replaceChildren(...items);
  focus();
  if (toBottom || atBottom) list.scrollTop = list.scrollHeight;
}

// Lists are rebuilt on every change: put the keyboard focus (and an editor's caret) back on
// the same control of the same item afterwards.
function focusWithin(container, itemSelector) {
  const active = document.activeElement;
  if (!active || !container.contains(active) || active === container) return () => {};
  const item = active.closest(itemSelector);
  if (!item) return () => {};
  const key = ["data-message", "data-pending", "data-chat"].find((a) => item.hasAttribute(a));
  const value = item.getAttribute(key);
  const label = active.getAttribute("aria-label") || active.textContent;
  const caret = [active.selectionStart, active.selectionEnd];
  return () => {
    const again = container.querySelector(`[${key}="${CSS.escape(value)}"]`);
    if (!again) return;
    const controls = [again, ...again.querySelectorAll("button, textarea, input")];
    const target = controls.find(
      (c) => c.tagName === active.tagName && (c.getAttribute("aria-label") || c.textContent) === label,
    );
    if (!target) return;
    target.focus();
    if (caret[0] !== null && caret[0] !== undefined && target.setSelectionRange) {
      target.setSelectionRange(caret[0], caret[1]);
    }
  };
}

function messageItem(message) {
  const own = message.author === state.me.id;
  const editing = state.editing && state.editing.id === message.id && !message.deleted;
  let body = message.deleted
    ? el("p", { class: "text deleted", text: "message deleted" })
    : el("p", { class: "text", text: message.text });
  if (editing) body = editorFor(message);
  const actions = [];
  if (!message.deleted && !state.blocked && !editing) {
    if (own) {
      actions.push(el("button", {
        type: "button", class: "link", text: "Edit", "aria-label": "Edit message",
        onclick: () => editMessage(message),
      }));
    }
    if (own || isModerator()) {
      actions.push(el("button", {
        type: "button", class: "link", text: "Delete", "aria-label": "Delete message",
        onclick: () => deleteMessage(message),
      }));
    }
  }
  return el(
    "li",
    { class: own ? "message own" : "message", "data-message": String(message.id) },
    el(
      "div",
      { class: "meta" },
      el("span", { class: "author", text: nameOf(message.author) }),
      el("time", { datetime: message.created_at, text: when(message.created_at) }),
      message.edited_at && !message.deleted ? el("span", { class: "edited", text: "(edited)" }) : null,
    ),
    body,
    actions.length ? el("div", { class: "actions" }, ...actions) : null,
  );
}

function pendingItem(pending) {
  const status = {
    sending: "Sending…",
    retrying: "Not sent yet: retrying…",
    failed: `Not sent: ${pending.error || "error"}`,
  }[pending.state];
  const retry = pending.state === "failed"
    ? el("button", { type: "button", class: "link", text: "Retry", onclick: () => deliver(pending) })
    : null;
  return el(
    "li",
    { class: "message own pending", "data-pending": pending.key },
    el("div", { class: "meta" }, el("span", { class: "author", text: state.me.username }),
      el("span", { class: "status", text: status })),
    el("p", { class: "text", text: pending.text }),
    retry ? el("div", { class: "actions" }, retry) : null,
  );
}

async function loadOlder() {
  const open = state.open;
  if (!open || open.draft || open.loadingOlder || open.beforeSeq == null) return;
  open.loadingOlder = true;
  const list = $("messages");
  try {
    const page = await api.get(
      `/chats/${open.id}/messages?limit=${PAGE}&before_seq=${open.beforeSeq}`,
    );
    if (state.open !== open) return;
    await learnNames(page.messages.map((m) => m.author));
    for (const message of page.messages) open.messages.set(message.id, message);
    open.beforeSeq = page.before_seq;
    open.loadingOlder = false;
    const fromBottom = list.scrollHeight - list.scrollTop;
    renderMessages();
    list.scrollTop = list.scrollHeight - fromBottom; // the same messages stay in view
  } catch (err) {
    open.loadingOlder = false;
    failed(err, $("chat-error"));
  }
}

let readTimer = null;
function markRead() {
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    const open = state.open;
    if (!open || open.draft || document.hidden || state.blocked) return;
    const chat = state.chats.get(open.id);
    if (!chat || !chat.users.includes(state.me.id)) return;
    if (chat.last_read_seq >= chat.last_seq && chat.unread_count === 0) return;
    try {
      const updated = await api.post(`/chats/${open.id}/read`, { seq: chat.last_seq });
      const known = state.chats.get(open.id);
      if (known) {
        known.last_read_seq = updated.last_read_seq;
        known.unread_count = updated.unread_count;
      }
      renderChats();
    } catch {
      // The marker moves on the next message or visit.
    }
  }, 150);
}

// ---- writing --------------------------------------------------------------------------------

function send() {
  const input = $("composer-input");
  const text = input.value;
  if (!text.trim() || !state.open || state.blocked) return;
  input.value = "";
  const open = state.open;
  const pending = { key: newKey(), text, state: "sending", attempt: 0 };
  if (open.draft) pending.draftUser = open.user.id;
  else pending.chat = open.id;
  state.pending.push(pending);
  renderMessages({ toBottom: true });
  deliver(pending);
}

// Delivered exactly once however often it is retried: the Idempotency-Key stays the same.
async function deliver(pending) {
  pending.state = "sending";
  renderMessages();
  const path = pending.draftUser
    ? `/direct/${pending.draftUser}/messages`
    : `/chats/${pending.chat}/messages`;
  try {
    const message = await api.post(path, { text: pending.text }, pending.key);
    state.pending = state.pending.filter((p) => p !== pending);
    if (pending.draftUser) {
      // Sends typed into the draft after this one go to the chat it created.
      for (const later of state.pending) {
        if (later.draftUser === pending.draftUser) {
          later.chat = message.chat;
          delete later.draftUser;
        }
      }
      if (state.open && state.open.draft && state.open.user.id === pending.draftUser) {
        await openChat(message.chat);
      }
    }
    messageChanged(message, true);
  } catch (err) {
    const transient = err instanceof ApiError &&
      (err.offline || err.status >= 500 || err.status === 429 || err.code === "idempotency_key_in_use");
    if (transient && !state.blocked) {
      pending.state = "retrying";
      pending.attempt += 1;
      const wait = err.retryAfter ? err.retryAfter * 1000 : Math.min(30000, 500 * 2 ** pending.attempt);
      const again = () => {
        window.removeEventListener("online", again);
        clearTimeout(pending.timer);
        if (state.pending.includes(pending) && pending.state === "retrying") deliver(pending);
      };
      pending.timer = setTimeout(again, wait);
      window.addEventListener("online", again);
    } else {
      pending.state = "failed";
      pending.error = describe(err);
      if (err instanceof ApiError && (err.status === 401 || err.code === "user_blocked")) {
        failed(err, $("chat-error"));
      }
    }
    renderMessages();
  }
}

function editMessage(message) {
  state.editing = { id: message.id, text: message.text };
  renderMessages();
  const input = $("messages").querySelector(".edit-input");
  if (input) input.focus();
}

// The editor is part of the state, not of the DOM: a message arriving meanwhile re-renders
// the list without losing what is being typed.
function editorFor(message) {
  const input = el("textarea", { class: "edit-input", "aria-label": "Edit message", rows: "2" });
  input.value = state.editing.text;
  input.addEventListener("input", () => {
    if (state.editing) state.editing.text = input.value;
  });
  const cancel = () => {
    state.editing = null;
    renderMessages();
  };
  const save = async () => {
    const text = input.value;
    state.editing = null;
    if (!text.trim() || text === message.text) {
      renderMessages();
      return;
    }
    renderMessages();
    try {
      const updated = await api.patch(`/messages/${message.id}`, { text }, newKey());
      messageChanged(updated, false);
    } catch (err) {
      failed(err, $("chat-error"));
    }
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      save();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      cancel();
    }
  });
  return el("div", { class: "edit" }, input,
    el("div", { class: "actions" },
      el("button", { type: "button", class: "small", text: "Save", onclick: save }),
      el("button", { type: "button", class: "small secondary", text: "Cancel", onclick: cancel })));
}

// A destructive button asks for a second click instead of a dialog: dialogs steal focus and
// cannot be styled or tested like the page.
function confirmed(button) {
  if (button.dataset.armed === "true") {
    delete button.dataset.armed;
    button.textContent = button.dataset.label;
    return true;
  }
  button.dataset.label = button.textContent;
  button.dataset.armed = "true";
  button.textContent = "Click again to confirm";
  setTimeout(() => {
    if (button.dataset.armed === "true") {
      delete button.dataset.armed;
      button.textContent = button.dataset.label;
    }
  }, 4000);
  return false;
}

async function deleteMessage(message) {
  try {
    await api.delete(`/messages/${message.id}`);
    messageChanged({ ...message, text: null, deleted: true }, false);
  } catch (err) {
    failed(err, $("chat-error"));
  }
}

async function changeChat(change) {
  const open = state.open;
  say($("details-error"), "");
  try {
    const updated = await api.patch(`/chats/${open.id}`, change, newKey());
    chatChanged(updated);
  } catch (err) {
    failed(err, $("details-error"));
  }
}

async function setBlocked(username, blocked) {
  const status = $("moderation-status");
  try {
    const user = await userByName(username);
    if (blocked) await api.put(`/users/${user.id}/block`);
    else await api.delete(`/users/${user.id}/block`);
    status.textContent = `${user.username} is ${blocked ? "blocked" : "unblocked"}.`;
  } catch (err) {
    status.textContent = describe(err);
  }
}

// ---- wiring ---------------------------------------------------------------------------------

function wire() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    logIn(false);
  });
  $("register-button").addEventListener("click", () => logIn(true));
  $("logout-button").addEventListener("click", logOut);
  $("back-button").addEventListener("click", () => closeChat());

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("composer-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop < 80) loadOlder();
  });

  $("direct-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    say($("sidebar-error"), "");
    try {
      const user = await userByName($("direct-username").value);
      if (user.id === state.me.id) throw new ApiError(400, "self", "That is you.");
      $("direct-username").value = "";
      const existing = [...state.chats.values()].find(
        (chat) => chat.is_private && chat.users.includes(user.id),
      );
      if (existing) await openChat(existing.id);
      else openDraft(user);
    } catch (err) {
      failed(err, $("sidebar-error"));
    }
  });

  $("new-chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    say($("sidebar-error"), "");
    try {
      const names = $("new-chat-members").value.split(",").map((n) => n.trim()).filter(Boolean);
      const users = [];
      for (const name of names) users.push((await userByName(name)).id);
      const chat = await api.post("/chats", { name: $("new-chat-name").value.trim(), users }, newKey());
      $("new-chat-name").value = "";
      $("new-chat-members").value = "";
      $("new-chat").open = false;
      chatChanged(chat);
      await openChat(chat.id);
    } catch (err) {
      failed(err, $("sidebar-error"));
    }
  });

  $("scope-all").addEventListener("change", (event) => {
    state.scopeAll = event.target.checked;
    reload();
  });

  $("details-button").addEventListener("click", () => {
    const details = $("chat-details");
    show(details, details.hidden);
    $("details-button").setAttribute("aria-expanded", String(!details.hidden));
  });
  $("rename-form").addEventListener("submit", (event) => {
    event.preventDefault();
    changeChat({ name: $("rename-input").value.trim() });
  });
  $("add-member-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    say($("details-error"), "");
    const id = state.open.id;
    try {
      const user = await userByName($("add-member-input").value);
      $("add-member-input").value = "";
      const chat = state.chats.get(id); // as it is now, after the lookup
      if (chat && !chat.users.includes(user.id)) {
        await changeChat({ users: [...chat.users, user.id] });
      }
    } catch (err) {
      failed(err, $("details-error"));
    }
  });
  // Leaving and deleting: a second click confirms, then the chat is gone from this page.
  const chatAction = (button, request, how) => {
    $(button).addEventListener("click", async (event) => {
      if (!confirmed(event.currentTarget)) return;
      const id = state.open.id;
      try {
        await request(id);
        chatGone(id, how);
      } catch (err) {
        failed(err, $("details-error"));
      }
    });
  };
  chatAction("leave-button", (id) => api.post(`/chats/${id}/leave`, undefined, newKey()), "left");
  chatAction("delete-chat-button", (id) => api.delete(`/chats/${id}`), "deleted");

  $("block-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setBlocked($("block-username").value, true);
  });
  $("unblock-button").addEventListener("click", () => setBlocked($("block-username").value, false));

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) markRead();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("chat-details").hidden) {
      show($("chat-details"), false);
      $("details-button").setAttribute("aria-expanded", "false");
      $("details-button").focus();
    }
  });
}

wire();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else $("login-username").focus();
