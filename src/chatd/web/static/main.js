// chatd's web client: the wiring.
//
//   state.js        what the client knows; every change is reduce(state, action), pure
//   timeline.js     what the message view shows, from the state, pure
//   outbox.js       every write to a chat's history, in order, one queue per chat
//   loads.js        the HTTP reads that fill the state; forms.js: the sidebar's and details' forms
//   rules.js        what the server accepts, said before it is asked; errors as sentences, pure
//   marks.js        marked words of a text, "@name" completion, pure
//   chatlist.js, details.js, messageview.js, composer.js, search.js: draw the state
//   api.js, stream.js: the HTTP API and the WebSocket stream
//
// Here: one dispatch() that reduces, runs what the state asks for (effects) and draws; logging
// in and out; the composer; and the page's events.

import { Api, ApiError, describe } from "./api.js";
import { ChatList } from "./chatlist.js";
import { Composer } from "./composer.js";
import { ChatDetails } from "./details.js";
import { $, newKey, say, show } from "./dom.js";
import { Forms } from "./forms.js";
import { Loads } from "./loads.js";
import { MessageView, renderCounter } from "./messageview.js";
import { Outbox } from "./outbox.js";
import { HINTS, USERNAME_MAX, passwordProblem } from "./rules.js";
import { Search } from "./search.js";
import { initialState, isModerator, reactionMethod, reduce, unreadTotal } from "./state.js";
import { Stream } from "./stream.js";
import { tooLong } from "./timeline.js";

const TOKEN_KEY = "chatd.token";
// The open chat, for a reload to open it again. Beside the token, in this tab's sessionStorage:
// a reload keeps both, logging out or closing the tab forgets both, and two tabs keep a chat
// each. Not the URL: a link to "chat 12" would mean nothing to anyone else, and the back button
// would have to learn chats.
const OPEN_KEY = "chatd.open";
const ASK_MS = 4000; // how long a Delete waits for its second click, as deleting a chat does
const LABELS = {
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  live: "Connected",
  blocked: "Blocked",
};
let state = initialState();
let stream = null;
let outbox = null;
let toBottom = false; // the next drawing scrolls the messages to the end
let remembered = null; // the chat id last written to OPEN_KEY
let askTimer = null;

const app = {
  api: new Api(),
  get state() {
    return state;
  },
  dispatch,
  failed,
  scrollToEnd: () => {
    toBottom = true;
  },
  focusComposer: () => $("composer-input").focus(),
};
const loads = new Loads(app);
const forms = new Forms(app, loads);
const chatList = new ChatList((id) => loads.openChat(id));
const search = new Search(app, (chat, id) => loads.showMessage(chat, id));
const composer = new Composer(app, (chat) => stream && stream.send({ type: "typing", chat }));
const details = new ChatDetails({
  removeMember: (chatId, userId) => forms.removeMember(chatId, userId),
  block: (username) => forms.setBlocked(username, true),
});
const messageView = new MessageView({
  edit: (message, text) => {
    dispatch({ type: "edit.start", id: message.id, text });
    const input = $("messages").querySelector(".edit-input");
    if (input) input.focus();
  },
  // The first click asks (the button says "Click again to delete"), the second deletes; the
  // question lapses unanswered. One question at a time.
  remove: (message) => {
    clearTimeout(askTimer);
    if (state.asking === message.id) {
      dispatch({ type: "delete.settled", id: message.id });
      outbox.add({ kind: "delete", chat: message.chat, message: message.id });
      return;
    }
    dispatch({ type: "delete.asked", id: message.id });
    askTimer = setTimeout(() => dispatch({ type: "delete.settled", id: message.id }), ASK_MS);
  },
  editInput: (text) => dispatch({ type: "edit.input", text }),
  save: (message, text) => {
    const waiting = state.ops.findLast((op) => op.message === message.id && op.kind === "edit");
    dispatch({ type: "edit.stop" });
    if (!text.trim() || text === (waiting ? waiting.text : message.text)) return;
    outbox.add({ kind: "edit", chat: message.chat, message: message.id, text });
  },
  cancel: () => dispatch({ type: "edit.stop" }),
  // A failed operation, back in the person's hands: a send's text in the composer (before
  // what is typed there), an edit's in the editor. What they send next is a new operation.
  retype: (op) => {
    outbox.discard(op.key);
    if (op.kind === "edit") {
      messageView.actions.edit({ id: op.message }, op.text);
      return;
    }
    const input = $("composer-input");
    input.value = input.value ? `${op.text}\n${input.value}` : op.text;
    composerChanged();
    input.focus();
  },
  discard: (op) => outbox.discard(op.key),
  reply: (message) => {
    const { chat, id, author } = message;
    dispatch({ type: "reply.start", reply: { chat, id, author, excerpt: message.text.slice(0, 100) } });
    $("composer-input").focus();
  },
  react: async (message, emoji) => {
    const path = `/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
    try {
      const totals = await app.api.request(reactionMethod(message, emoji), path);
      dispatch({ type: "reactions", message: totals });
    } catch (err) {
      failed(err, "chat");
    }
  },
  show: (chat, id) => loads.showMessage(chat, id),
});

function dispatch(action) {
  state = reduce(state, action);
  const effects = state.effects;
  if (effects.length) {
    state = { ...state, effects: [] };
    for (const effect of effects) {
      if (effect.type === "names") loads.learnNames(effect.ids);
      else if (effect.type === "fetchChat") loads.fetchChat(effect.id);
      else if (effect.type === "read") loads.markRead();
      else if (effect.type === "reopen") loads.openChat(effect.id);
    }
  }
  render();
}

// Each view redraws only when what it shows has changed.
function render() {
  const open = state.open;
  document.body.classList.toggle("chat-open", Boolean(open));
  document.body.classList.toggle("blocked", state.blocked);
  show($("chat-view"), Boolean(open));
  say($("chat-empty"), state.notice || "Pick a chat.");
  show($("chat-empty"), !open);
  chatList.render(state);
  details.render(state);
  messageView.render(state, { toBottom });
  search.render(state);
  composer.render(state);
  toBottom = false;
  for (const where of ["sidebar", "chat", "details"]) {
    say($(`${where}-error`), state.errors[where]?.text);
  }
  say($("banner"), state.blocked ? "Your account has been blocked by a moderator." : "");
  if ($("connection").dataset.state !== state.connection) {
    $("connection").textContent = LABELS[state.connection] || state.connection;
    $("connection").dataset.state = state.connection;
  }
  const unread = unreadTotal(state);
  document.title = unread ? `(${unread}) chatd` : "chatd";
  remember();
}

function remember() {
  const open = state.open;
  const id = state.me ? (open && !open.draft ? open.id : state.restore) : null;
  if (id === remembered) return;
  remembered = id;
  if (id === null || id === undefined) sessionStorage.removeItem(OPEN_KEY);
  else sessionStorage.setItem(OPEN_KEY, String(id));
}

// Any request may learn that the token is gone (revoked, user blocked).
function failed(err, where) {
  if (err instanceof ApiError && err.status === 401) {
    if (!state.blocked) stopped(4001);
  } else if (err instanceof ApiError && err.code === "user_blocked") {
    stopped(4003);
  } else if (where) {
    const offline = err instanceof ApiError && err.offline;
    dispatch({ type: "error", where, text: describe(err), offline });
  }
}

// ---- logging in and out ---------------------------------------------------------------------

async function logIn(register) {
  const username = $("login-username").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!username || !password) {
    say(error, "Enter a username and a password.");
    return;
  }
  // Refused here, in the server's words, before a request is made: only a new account's
  // password is checked (an account's password is whatever was accepted when it was made).
  const problem = register ? passwordProblem(password) : null;
  if (problem) {
    say(error, problem);
    $("login-password").focus();
    return;
  }
  say(error, "");
  $("login-button").disabled = $("register-button").disabled = true;
  try {
    if (register) await app.api.post("/users", { username, password });
    const session = await app.api.post("/auth/tokens", { username, password });
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
  app.api.token = token;
  let me;
  try {
    me = await app.api.get("/me");
  } catch (err) {
    app.api.token = null;
    if (err instanceof ApiError && err.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY); // expired or revoked: log in again
      sessionStorage.removeItem(OPEN_KEY);
      return;
    }
    say($("login-error"), `${describe(err)} Reload the page to try again.`);
    return;
  }
  loads.reset();
  const saved = Number.parseInt(sessionStorage.getItem(OPEN_KEY) || "", 10);
  dispatch({ type: "session.started", me, restore: Number.isInteger(saved) ? saved : null });
  $("me").textContent = me.username + (isModerator(state) ? " (moderator)" : "");
  show($("scope-label"), isModerator(state));
  show($("moderation"), isModerator(state));
  show($("login-screen"), false);
  show($("app-screen"), true);
  if (!state.maxLength) loads.learnLimit();
  outbox = new Outbox({ newKey, transport, onChange: outboxChanged, onFatal: (err) => failed(err) });
  let first = true;
  stream = new Stream(token, {
    ready: (_pos, resumed) => {
      if (first || !resumed || state.reloadFailed) loads.reload();
      if (!first) loads.learnNames([...state.names.keys()], true); // who is online now
      first = false;
      outbox.resume(); // the server answers again: what waited goes now
    },
    event: (frame) => dispatch({ type: "frame", frame, now: Date.now() }),
    resync: () => loads.reload(),
    status: (status) => dispatch({ type: "connection", status }),
    stopped: (code) => stopped(code),
  });
  stream.start();
}

async function logOut() {
  try {
    await app.api.delete("/auth/tokens/current");
  } catch {
    // The token may already be gone (blocked, expired): logging out locally is what matters.
  }
  reset();
}

function reset() {
  if (stream) stream.stop();
  if (outbox) outbox.clear();
  stream = outbox = null;
  sessionStorage.removeItem(TOKEN_KEY);
  app.api.token = null;
  loads.reset();
  dispatch({ type: "session.ended" });
  $("scope-all").checked = false;
  $("composer-input").value = "";
  composerChanged();
  for (const id of ["new-chat-name", "new-chat-members", "direct-username", "block-username"]) {
    $(id).value = "";
  }
  $("moderation-status").textContent = "";
  $("messages").replaceChildren();
  show($("app-screen"), false);
  show($("login-screen"), true);
  $("login-username").value = ""; // a shared computer keeps nothing of the session
  $("login-password").value = "";
  $("login-username").focus();
}

function stopped(code) {
  if (code === 4003) {
    dispatch({ type: "blocked" });
    return;
  }
  reset();
  say($("login-error"), "Your session has ended. Log in again.");
}

// ---- writing --------------------------------------------------------------------------------

function transport(op) {
  const { api } = app;
  if (op.kind === "send") {
    const path = op.user ? `/direct/${op.user}/messages` : `/chats/${op.chat}/messages`;
    return api.post(path, op.reply ? { text: op.text, reply_to: op.reply } : { text: op.text }, op.key);
  }
  if (op.kind === "edit") return api.patch(`/messages/${op.message}`, { text: op.text }, op.key);
  return api.request("DELETE", `/messages/${op.message}`, { idempotencyKey: op.key });
}

function outboxChanged(ops, done) {
  dispatch({ type: "outbox", ops, done });
  const open = state.open;
  // The first send to a private chat made it: the chat it created is the one to show.
  if (done && done.op.user && done.reply && open && open.draft && open.user.id === done.op.user) {
    loads.openChat(done.reply.chat);
  }
}

function send() {
  const input = $("composer-input");
  const text = input.value;
  if (!text.trim() || !state.open || state.blocked) return;
  // Refused here, with the text kept: the server would refuse it for good.
  const refused = tooLong(text, state.maxLength);
  dispatch({ type: "error", where: "chat", text: refused });
  if (refused) return;
  input.value = "";
  composerChanged();
  composer.suggest();
  toBottom = true;
  const open = state.open;
  const to = open.draft ? { user: open.user.id } : { chat: open.id };
  const replying = !open.draft && state.reply && state.reply.chat === open.id;
  const reply = replying ? { reply: state.reply.id } : {};
  if (state.reply) dispatch({ type: "reply.stop" });
  outbox.add({ kind: "send", ...to, text, ...reply });
}

function composerChanged() {
  const text = $("composer-input").value;
  renderCounter($("composer-count"), text, state.maxLength);
  const shown = state.errors.chat;
  if (shown && shown.text.startsWith("Too long") && !tooLong(text, state.maxLength)) {
    dispatch({ type: "error", where: "chat", text: null });
  }
}

// ---- the page's controls --------------------------------------------------------------------

function on(id, type, handler) {
  $(id).addEventListener(type, (event) => {
    if (type === "submit") event.preventDefault();
    handler(event);
  });
}

function wire() {
  on("login-form", "submit", () => logIn(false));
  on("register-button", "click", () => logIn(true));
  on("logout-button", "click", logOut);
  on("back-button", "click", () => dispatch({ type: "chat.closed" }));
  on("composer", "submit", send);
  on("composer-input", "input", () => {
    composerChanged();
    composer.typed();
  });
  on("composer-input", "click", () => composer.suggest());
  on("reply-cancel", "click", () => dispatch({ type: "reply.stop" }));
  on("composer-input", "keydown", (event) => {
    if (event.isComposing || composer.key(event)) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  on("messages", "scroll", () => {
    if ($("messages").scrollTop < 80) loads.loadOlder();
    messageView.scrolled();
  });
  on("new-below", "click", () => messageView.toEnd());
  forms.wire(on);
  search.wire(on);
  window.addEventListener("online", () => outbox && outbox.resume());
  document.addEventListener("visibilitychange", () => {
    dispatch({ type: "visibility", visible: !document.hidden });
    if (!document.hidden) loads.markRead();
  });
  $("login-username-hint").textContent = HINTS.username;
  $("login-password-hint").textContent = HINTS.password;
  $("login-username").maxLength = USERNAME_MAX;
}

wire();
state = reduce(state, { type: "visibility", visible: !document.hidden });
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else $("login-username").focus();
