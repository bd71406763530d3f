// The open chat's messages: confirmed ones, the outbox's (pending, waiting, failed) after them
// in the order they were typed, the editor of a message, and the composer's length counter.
// What to show comes from timeline.js; this module only turns it into elements.

import { $, el, focusWithin, say, show, when } from "./dom.js";
import { mentionRanges, segments } from "./marks.js";
import { nameOf } from "./state.js";
import { lengthCheck, newestSeq, timeline, tooLong } from "./timeline.js";

// The reactions a message offers on hover, beside those it already has: one code point each,
// so each is one grapheme however the server counts.
const QUICK = ["👍", "🎉", "😂", "😮"];

export class MessageView {
  // actions: { edit(message), remove(message), editInput(text), save(message, text),
  //            cancel(), retype(op), discard(op), reply(message), react(message, emoji),
  //            show(chat, id) }
  constructor(actions) {
    this.actions = actions;
    this.shown = {};
    this.failed = new Set(); // keys of failed items already shown, to bring new ones into view
    this.newest = null; // { chat, seq }: the newest message drawn, to tell when one arrives
  }

  render(state, { toBottom = false } = {}) {
    const seen = {
      open: state.open, ops: state.ops, echoes: state.echoes, names: state.names,
      editing: state.editing && state.editing.id, blocked: state.blocked, me: state.me,
      asking: state.asking,
    };
    if (!toBottom && Object.keys(seen).every((k) => seen[k] === this.shown[k])) return;
    this.shown = seen;
    const open = state.open;
    const below = $("new-below");
    if (!open) {
      show(below, false);
      this.newest = null;
      return;
    }
    const list = $("messages");
    const atBottom = this.atBottom();
    const shown = timeline(state);
    const items = shown.map((item) => this.item(state, item));
    if (open.beforeSeq !== null && open.beforeSeq !== undefined) {
      const hint = open.loadingOlder ? "Loading…" : "Scroll up for older messages";
      items.unshift(el("li", { class: "hint", text: hint }));
    }
    const focus = focusWithin(list, "[data-message], [data-pending]");
    list.replaceChildren(...items);
    focus();
    // A message that came in below what the person reads (scrolled up) does not move the view:
    // a button says so instead, and goes once they are at the bottom.
    const newest = { chat: open.draft ? `user ${open.user.id}` : open.id, seq: newestSeq(shown) };
    const same = this.newest && this.newest.chat === newest.chat;
    if (toBottom || atBottom) {
      list.scrollTop = list.scrollHeight;
      show(below, false);
    } else if (!same) {
      show(below, false);
    } else if (newest.seq > this.newest.seq) {
      show(below, true);
    }
    this.newest = newest;
    // A message that failed is shown where it can be seen, with what to do about it.
    const failed = [...list.querySelectorAll(".failed")];
    for (const node of failed) {
      const key = node.dataset.pending || node.dataset.message;
      if (!this.failed.has(key)) node.scrollIntoView({ block: "nearest" });
    }
    this.failed = new Set(failed.map((node) => node.dataset.pending || node.dataset.message));
    const target = open.target;
    const node = target && target !== this.aimed && list.querySelector(`[data-message="${target.id}"]`);
    if (node) {
      node.scrollIntoView({ block: "center" });
      this.aimed = target; // once: the person may scroll away from it
    }
  }

  atBottom() {
    const list = $("messages");
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  // The list was scrolled, by hand or by the button: at the bottom, nothing new is below.
  scrolled() {
    if (!$("new-below").hidden && this.atBottom()) show($("new-below"), false);
  }

  toEnd() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
    show($("new-below"), false);
  }

  item(state, item) {
    const { op } = item;
    const open = state.open;
    const failed = op && op.status === "failed";
    const classes = ["message", item.own ? "own" : "", op ? "pending" : "", failed ? "failed" : ""];
    const attrs = { class: classes.filter(Boolean).join(" ") };
    let author = state.me ? state.me.username : "";
    let time = null;
    let body;
    if (item.kind === "message") {
      const { message } = item;
      attrs["data-message"] = String(message.id);
      author = nameOf(state, message.author);
      time = el("time", { datetime: message.created_at, text: when(message.created_at) });
      const names = (message.mentions || []).map((id) => nameOf(state, id));
      body = message.deleted
        ? el("p", { class: "text deleted", text: "message deleted" })
        : el("p", { class: "text" }, ...segments(item.text, mentionRanges(item.text, names))
          .map((p) => (p.mark ? el("mark", { class: "mention", text: p.text }) : p.text)));
      if (message.mentions_me) attrs.class += " mentions-me";
      if (open.target && open.target.id === message.id) attrs.class += " marked";
      if (item.editing) body = this.editor(state, message);
      if (message.edited_at && !message.deleted) {
        time = [time, el("span", { class: "edited", text: "(edited)" })];
      }
    } else {
      attrs["data-pending"] = item.key;
      body = el("p", { class: "text", text: item.text });
    }
    const replyTo = item.message ? item.message.reply_to : op && op.reply && quoted(state, op.reply);
    const status = item.status ? el("span", { class: "status", text: item.status }) : null;
    const meta = el("div", { class: "meta" }, el("span", { class: "author", text: author }),
      ...(Array.isArray(time) ? time : [time]), status);
    const actions = this.buttons(item, state.blocked);
    // A failed operation's Edit and Discard always show; a message's own Edit and Delete only on
    // hover or focus (app.css), so the message is a tab stop that shows them.
    const tools = actions.length && !failed;
    if (tools) attrs.tabindex = "0";
    if (item.asking) attrs.class += " asking";
    const row = actions.length
      ? el("div", { class: tools ? "actions tools" : "actions" }, ...actions)
      : null;
    const quote = replyTo ? el("button", {
      type: "button", class: "quote", title: "Show the message this replies to",
      onclick: () => this.actions.show(open.id, replyTo.id),
    }, el("b", { text: nameOf(state, replyTo.author) }),
    replyTo.deleted || replyTo.excerpt == null ? " message deleted" : ` ${replyTo.excerpt}`) : null;
    const reactions = item.message && !item.message.deleted && item.message.reactions?.length
      ? el("div", { class: "reactions" }, ...item.message.reactions.map((r) => el("button", {
        type: "button", class: "chip", "aria-pressed": String(r.me), text: `${r.emoji} ${r.count}`,
        disabled: state.blocked, onclick: () => this.actions.react(item.message, r.emoji),
      })))
      : null;
    return el("li", attrs, meta, quote, body, reactions, row);
  }

  buttons(item, blocked) {
    const { op, message } = item;
    const button = (text, label, onclick, action = null) => el("button", {
      type: "button", class: "link", text, "aria-label": label, "data-action": action, onclick,
    });
    const actions = [];
    if (op && op.status === "failed") {
      // Every failed operation can be taken back into the person's hands, or dropped.
      if (op.kind !== "delete") actions.push(button("Edit", null, () => this.actions.retype(op)));
      actions.push(button("Discard", null, () => this.actions.discard(op)));
      return actions;
    }
    if (item.kind !== "message") return actions;
    const { edit, remove, reply, react } = this.actions;
    if (item.canEdit) {
      actions.push(button("Edit", "Edit message", () => edit(message, item.text), "edit"));
    }
    if (item.canDelete) {
      const [text, label] = item.asking
        ? ["Click again to delete", "Click again to delete message"]
        : ["Delete", "Delete message"];
      actions.push(button(text, label, () => remove(message), "delete"));
    }
    // After Edit and Delete: one Tab from the message reaches Edit, as before.
    if (!message.deleted && !blocked) {
      actions.push(button("Reply", "Reply", () => reply(message), "reply"));
      for (const e of QUICK) actions.push(button(e, `React ${e}`, () => react(message, e), `react${e}`));
    }
    return actions;
  }

  // The editor's text is part of the state, not of the DOM: a message arriving meanwhile
  // re-renders the list without losing what is being typed.
  editor(state, message) {
    const input = el("textarea", { class: "edit-input", "aria-label": "Edit message", rows: "2" });
    input.value = state.editing.text;
    const counter = el("span", { class: "counter" });
    const error = el("p", { class: "error", role: "alert", hidden: true });
    const update = () => {
      renderCounter(counter, input.value, state.maxLength);
      if (!tooLong(input.value, state.maxLength)) say(error, "");
    };
    update();
    input.addEventListener("input", () => {
      this.actions.editInput(input.value);
      update();
    });
    const save = () => {
      const refused = tooLong(input.value, state.maxLength);
      if (refused) say(error, refused);
      else this.actions.save(message, input.value);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") {
        event.stopPropagation();
        this.actions.cancel();
      }
    });
    return el("div", { class: "edit" }, input, error,
      el("div", { class: "actions" }, counter,
        el("button", { type: "button", class: "small", text: "Save", onclick: save }),
        el("button", {
          type: "button", class: "small secondary", text: "Cancel", onclick: () => this.actions.cancel(),
        })));
  }
}

// "9001 / 10000" from 80% of the limit on; marked (red) past it.
export function renderCounter(node, text, maxLength) {
  const check = lengthCheck(text, maxLength);
  node.textContent = check.show ? check.label : "";
  node.classList.toggle("over", check.over);
  show(node, check.show);
}

// The quote of the message a pending send replies to, as the server will show it.
function quoted(state, id) {
  const m = state.open && state.open.messages.get(id);
  if (!m) return null;
  return { id, author: m.author, excerpt: m.deleted ? null : m.text.slice(0, 100), deleted: m.deleted };
}
