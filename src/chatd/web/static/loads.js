// What the client reads over HTTP to fill the state: the chat list, one chat's latest page and
// older pages, names of users, the read marker, and the longest text the server takes. Each
// load hands its result to the state in one action (state.js, "Loads and events").

import { ApiError, describe } from "./api.js";
import { $ } from "./dom.js";

const PAGE = 50;

export class Loads {
  // app: { api, state (getter), dispatch, failed(err, where), scrollToEnd(), focusComposer() }
  constructor(app) {
    this.app = app;
    this.asked = new Set(); // user ids whose names were asked for: each once per session
    this.readTimer = null;
  }

  get state() {
    return this.app.state;
  }

  reset() {
    this.asked.clear();
    clearTimeout(this.readTimer);
  }

  // Names, and whether each is online (a profile says so once a chat is shared). `again`:
  // known ones too, for who is online now (presence events are not replayed).
  async namesFor(ids, again = false) {
    const { names, online } = this.state;
    const known = (id) => (names.has(id) && online.has(id)) || this.asked.has(id);
    const unknown = [...new Set(ids)].filter((id) => again || !known(id));
    const users = [];
    for (let i = 0; i < unknown.length; i += 100) {
      const query = unknown.slice(i, i + 100).map((id) => `id=${id}`).join("&");
      users.push(...(await this.app.api.get(`/users?${query}`)).users);
    }
    for (const id of unknown) this.asked.add(id);
    return users;
  }

  async learnNames(ids, again = false) {
    try {
      const users = await this.namesFor(ids, again);
      if (users.length) this.app.dispatch({ type: "names.learned", users });
    } catch {
      // Shown as "user N" until a later event asks again.
    }
  }

  async userByName(username) {
    const found = await this.app.api.get(`/users?username=${encodeURIComponent(username.trim())}`);
    if (!found.users.length) throw new ApiError(404, "user_not_found", `No user "${username}".`);
    this.app.dispatch({ type: "names.learned", users: found.users });
    return found.users[0];
  }

  async fetchChat(id) {
    try {
      const { messages: _m, before_seq: _b, ...chat } = await this.app.api.get(`/chats/${id}?limit=1`);
      this.app.dispatch({ type: "chat.changed", chat });
    } catch {
      // Gone already, or not ours: the next event or reload settles it.
    }
  }

  async reload() {
    const { api, dispatch } = this.app;
    dispatch({ type: "load.begin", kind: "chats" });
    const ticket = this.state.ticket;
    try {
      const chats = new Map();
      let cursor = null;
      do {
        const scope = this.state.scopeAll ? "&scope=all" : "";
        const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const page = await api.get(`/chats?limit=100${scope}${after}`);
        for (const chat of page.chats) chats.set(chat.id, chat);
        cursor = page.next_cursor;
      } while (cursor && chats.size < 1000);
      const users = await this.namesFor([...chats.values()].flatMap((chat) => chat.users));
      const result = { chats: [...chats.values()], users };
      dispatch({ type: "load.end", kind: "chats", ticket, result });
    } catch (err) {
      dispatch({ type: "load.end", kind: "chats", ticket, error: errorOf(err) });
      this.app.failed(err);
    }
  }

  async openChat(id) {
    const { api, dispatch } = this.app;
    dispatch({ type: "error", where: "chat", text: null });
    const open = this.state.open;
    const reopen = Boolean(open && open.id === id && !open.loading);
    dispatch({ type: "chat.opening", id });
    dispatch({ type: "load.begin", kind: "open" });
    const ticket = this.state.ticket;
    try {
      const { messages, before_seq: beforeSeq, ...chat } = await api.get(`/chats/${id}?limit=${PAGE}`);
      const users = await this.namesFor([...chat.users, ...messages.map((m) => m.author)]);
      if (!reopen) this.app.scrollToEnd();
      const result = { chat, messages, beforeSeq, users, reopen };
      dispatch({ type: "load.end", kind: "open", ticket, result });
      if (!reopen && this.state.current.open === ticket && this.state.open) this.app.focusComposer();
    } catch (err) {
      dispatch({ type: "load.end", kind: "open", ticket, error: errorOf(err), result: { id } });
      this.app.failed(err);
    }
  }

  async loadOlder() {
    const open = this.state.open;
    if (!open || open.draft || open.loadingOlder || open.beforeSeq == null) return;
    const { api, dispatch } = this.app;
    dispatch({ type: "older.begin" });
    const list = $("messages");
    try {
      const before = `limit=${PAGE}&before_seq=${open.beforeSeq}`;
      const page = await api.get(`/chats/${open.id}/messages?${before}`);
      const users = await this.namesFor(page.messages.map((m) => m.author));
      if (users.length) dispatch({ type: "names.learned", users });
      const fromBottom = list.scrollHeight - list.scrollTop;
      dispatch({ type: "older.end", id: open.id, messages: page.messages, beforeSeq: page.before_seq });
      list.scrollTop = list.scrollHeight - fromBottom; // the same messages stay in view
    } catch (err) {
      dispatch({ type: "older.end", id: open.id });
      this.app.failed(err, "chat");
    }
  }

  // A chat opened at one of its messages (a search result, the original of a reply): older
  // pages load until it is among them, and the view scrolls to it and marks it.
  async showMessage(chatId, id) {
    const here = () => this.state.open && !this.state.open.draft && this.state.open.id === chatId;
    if (!here() || this.state.open.loading) await this.openChat(chatId);
    for (let page = 0; page < 40 && here() && !this.state.open.messages.has(id); page += 1) {
      if (this.state.open.beforeSeq == null) break;
      await this.loadOlder();
    }
    if (here()) this.app.dispatch({ type: "target", id });
  }

  markRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(async () => {
      const state = this.state;
      const open = state.open;
      if (!open || open.draft || document.hidden || state.blocked) return;
      const chat = state.chats.get(open.id);
      if (!chat || !chat.users.includes(state.me.id)) return;
      if (chat.last_read_seq >= chat.last_seq && chat.unread_count === 0) return;
      try {
        const updated = await this.app.api.post(`/chats/${open.id}/read`, { seq: chat.last_seq });
        this.app.dispatch({ type: "read.updated", chat: open.id, last_read_seq: updated.last_read_seq });
      } catch {
        // The marker moves on the next message or visit.
      }
    }, 150);
  }

  // The longest message the server takes is a setting: GET /rules says it (a few bytes).
  async learnLimit() {
    try {
      const rules = await this.app.api.get("/rules");
      const maxLength = rules.text_max_length;
      if (Number.isInteger(maxLength)) this.app.dispatch({ type: "limit.learned", maxLength });
    } catch {
      // The server still refuses a text too long; only the counter is missing.
    }
  }
}

function errorOf(err) {
  return { text: describe(err), offline: err instanceof ApiError && err.offline, status: err.status };
}
