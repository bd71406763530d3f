// The sidebar's and the details pane's forms: start a private chat, create a group, switch a
// moderator's scope, rename, add and remove members, leave or delete a chat, block a user.
// Each calls the API and hands the reply to the state; errors show beside the form.

import { ApiError, describe } from "./api.js";
import { $, confirmed, newKey, show } from "./dom.js";
import { CHAT_NAME_MAX, chatNameProblem } from "./rules.js";

export class Forms {
  // app: { api, state (getter), dispatch, failed(err, where) }; loads: loads.js
  constructor(app, loads) {
    this.app = app;
    this.loads = loads;
  }

  async changeChat(change) {
    const { api, dispatch } = this.app;
    const id = this.app.state.open.id;
    dispatch({ type: "error", where: "details", text: null });
    try {
      dispatch({ type: "chat.changed", chat: await api.patch(`/chats/${id}`, change, newKey()) });
    } catch (err) {
      this.app.failed(err, "details");
    }
  }

  removeMember(chatId, userId) {
    const chat = this.app.state.chats.get(chatId);
    if (chat) this.changeChat({ users: chat.users.filter((u) => u !== userId) });
  }

  async setBlocked(username, blocked) {
    const { api } = this.app;
    const status = $("moderation-status");
    try {
      const user = await this.loads.userByName(username);
      if (blocked) await api.put(`/users/${user.id}/block`);
      else await api.delete(`/users/${user.id}/block`);
      status.textContent = `${user.username} is ${blocked ? "blocked" : "unblocked"}.`;
    } catch (err) {
      status.textContent = describe(err);
    }
  }

  // A name the server would refuse is refused here, in its words, without a request.
  named(where, input) {
    const problem = chatNameProblem(input.value);
    if (problem) {
      this.app.dispatch({ type: "error", where, text: problem });
      input.focus();
    }
    return !problem;
  }

  // A form's action, with its errors shown in `where` (sidebar, details).
  async attempt(where, action) {
    this.app.dispatch({ type: "error", where, text: null });
    try {
      await action();
    } catch (err) {
      this.app.failed(err, where);
    }
  }

  wire(on) {
    const { api, dispatch } = this.app;
    const state = () => this.app.state;
    on("direct-form", "submit", () => this.attempt("sidebar", async () => {
      const user = await this.loads.userByName($("direct-username").value);
      if (user.id === state().me.id) throw new ApiError(400, "self", "That is you.");
      $("direct-username").value = "";
      const existing = [...state().chats.values()].find(
        (c) => c.is_private && c.users.includes(user.id),
      );
      if (existing) await this.loads.openChat(existing.id);
      else {
        dispatch({ type: "draft.opened", user });
        $("composer-input").focus();
      }
    }));
    for (const id of ["new-chat-name", "rename-input"]) $(id).maxLength = CHAT_NAME_MAX;
    on("new-chat-form", "submit", () => this.attempt("sidebar", async () => {
      if (!this.named("sidebar", $("new-chat-name"))) return;
      const names = $("new-chat-members").value.split(",").map((n) => n.trim()).filter(Boolean);
      const users = [];
      for (const name of names) users.push((await this.loads.userByName(name)).id);
      const chat = await api.post("/chats", { name: $("new-chat-name").value.trim(), users }, newKey());
      $("new-chat-name").value = "";
      $("new-chat-members").value = "";
      $("new-chat").open = false;
      dispatch({ type: "chat.changed", chat });
      await this.loads.openChat(chat.id);
    }));
    on("scope-all", "change", (event) => {
      dispatch({ type: "scope", all: event.target.checked });
      this.loads.reload();
    });
    on("details-button", "click", () => {
      const pane = $("chat-details");
      show(pane, pane.hidden);
      $("details-button").setAttribute("aria-expanded", String(!pane.hidden));
    });
    on("rename-form", "submit", () => this.named("details", $("rename-input")) &&
      this.changeChat({ name: $("rename-input").value.trim() }));
    on("add-member-form", "submit", () => this.attempt("details", async () => {
      const user = await this.loads.userByName($("add-member-input").value);
      $("add-member-input").value = "";
      const chat = state().chats.get(state().open.id); // as it is now, after the lookup
      if (chat && !chat.users.includes(user.id)) {
        await this.changeChat({ users: [...chat.users, user.id] });
      }
    }));
    // Leaving and deleting: a second click confirms, then the chat is gone from this page.
    const chatAction = (button, request, how) => on(button, "click", (event) => {
      if (!confirmed(event.currentTarget)) return;
      const id = state().open.id;
      this.attempt("details", async () => {
        await request(id);
        dispatch({ type: "chat.gone", id, how });
      });
    });
    chatAction("leave-button", (id) => api.post(`/chats/${id}/leave`, undefined, newKey()), "left");
    chatAction("delete-chat-button", (id) => api.delete(`/chats/${id}`), "deleted");
    on("block-form", "submit", () => this.setBlocked($("block-username").value, true));
    on("unblock-button", "click", () => this.setBlocked($("block-username").value, false));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !$("chat-details").hidden) {
        show($("chat-details"), false);
        $("details-button").setAttribute("aria-expanded", "false");
        $("details-button").focus();
      }
    });
  }
}
