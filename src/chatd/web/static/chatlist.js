// The chat list in the sidebar: one button per chat, newest activity first, with its excerpt
// and unread count. Rebuilt from the state when the chats, names or the open chat change.

import { $, dot, el, focusWithin, show, when } from "./dom.js";
import { chatTitle, excerptOf, sortedChats } from "./state.js";

export class ChatList {
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.shown = {};
  }

  render(state) {
    const openId = state.open && !state.open.draft ? state.open.id : null;
    const seen = { chats: state.chats, names: state.names, openId, me: state.me, online: state.online };
    if (Object.keys(seen).every((k) => seen[k] === this.shown[k])) return;
    this.shown = seen;
    const list = $("chat-list");
    const chats = state.me ? sortedChats(state) : [];
    const items = chats.map((chat) => {
      const unread = chat.unread_count > 0
        ? el("span", { class: "unread", text: String(chat.unread_count),
          "aria-label": `${chat.unread_count} unread` })
        : null;
      const mentioned = chat.mention_count > 0
        ? el("span", { class: "unread mentioned", text: "@",
          "aria-label": `${chat.mention_count} mentioning you` })
        : null;
      // A private chat's other person: a dot when they are online.
      const other = chat.is_private && chat.users.find((id) => id !== state.me.id);
      const button = el(
        "button",
        {
          type: "button",
          class: "chat-item",
          "data-chat": String(chat.id),
          "aria-current": openId === chat.id ? "true" : false,
          onclick: () => this.onOpen(chat.id),
        },
        el("span", { class: "chat-name" }, other ? dot(state, other) : null, chatTitle(state, chat)),
        el("time", { class: "chat-time", datetime: chat.last_message_at,
          text: when(chat.last_message_at) }),
        el("span", { class: "chat-excerpt", text: excerptOf(state, chat) }),
        mentioned || unread ? el("span", { class: "badges" }, mentioned, unread) : null,
      );
      return el("li", {}, button);
    });
    const focus = focusWithin(list, "[data-chat]");
    list.replaceChildren(...items);
    focus();
    show($("no-chats"), Boolean(state.me) && chats.length === 0);
  }
}
