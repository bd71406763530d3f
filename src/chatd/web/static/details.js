// The open chat's header and its details pane: title, members, and what the person may do to
// the chat (rename, add and remove members, leave, delete).

import { $, dot, el, show } from "./dom.js";
import { chatTitle, isModerator, nameOf } from "./state.js";

export class ChatDetails {
  // actions: { removeMember(chatId, userId), block(username) }
  constructor(actions) {
    this.actions = actions;
    this.shown = {};
  }

  render(state) {
    const open = state.open;
    const chat = open && !open.draft ? state.chats.get(open.id) : null;
    const seen = { open, chat, names: state.names, me: state.me, online: state.online };
    if (Object.keys(seen).every((k) => seen[k] === this.shown[k])) return;
    this.shown = seen;
    if (!open) return;
    if (open.draft) {
      $("chat-title").textContent = open.user.username;
      show($("details-button"), false);
      show($("chat-details"), false);
      return;
    }
    if (!chat) return;
    const me = state.me.id;
    $("chat-title").textContent = chatTitle(state, chat);
    show($("details-button"), true);
    const owner = chat.owner === me;
    const manage = !chat.is_private && (owner || isModerator(state));
    show($("rename-form"), manage);
    show($("add-member-form"), manage);
    show($("leave-button"), !chat.is_private && chat.users.includes(me));
    show($("delete-chat-button"), owner || isModerator(state));
    if (document.activeElement !== $("rename-input")) $("rename-input").value = chat.name || "";
    const members = chat.users.map((id) => {
      const remove = manage && id !== me
        ? el("button", {
          type: "button", class: "secondary small", text: "Remove",
          "aria-label": `Remove ${nameOf(state, id)}`,
          onclick: () => this.actions.removeMember(chat.id, id),
        })
        : null;
      const block = isModerator(state) && id !== me
        ? el("button", {
          type: "button", class: "danger small", text: "Block",
          "aria-label": `Block ${nameOf(state, id)}`,
          onclick: () => this.actions.block(nameOf(state, id)),
        })
        : null;
      const role = id === chat.owner ? " (owner)" : "";
      return el("li", {}, el("span", {}, dot(state, id), nameOf(state, id) + role), remove, block);
    });
    $("member-list").replaceChildren(...members);
  }
}
