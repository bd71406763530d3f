// Around the composer's textarea: the message it replies to (a bar with a cancel), "@"
// suggestions from the open chat's members, "bob is typing…", and the typing signal it sends.

import { $, el, show } from "./dom.js";
import { complete, mentionAt, suggest } from "./marks.js";
import { nameOf, typingDue, typingLine } from "./state.js";

export class Composer {
  // app: { state (getter), dispatch }; signal(chat): sends {"type": "typing", "chat": chat}
  constructor(app, signal) {
    this.app = app;
    this.signal = signal;
    this.sent = new Map(); // chat -> when its last typing signal went (ms)
    this.at = null; // the "@prefix" being typed (marks.js mentionAt)
    this.choices = [];
    this.chosen = 0;
    this.expiry = null;
    this.chat = undefined; // the open chat's id when last drawn
  }

  typed() {
    const { open } = this.app.state;
    const input = $("composer-input");
    const now = Date.now();
    if (open && !open.draft && input.value.trim() && typingDue(this.sent.get(open.id), now)) {
      this.sent.set(open.id, now);
      this.signal(open.id);
    }
    this.suggest();
  }

  suggest() {
    const state = this.app.state;
    const input = $("composer-input");
    const chat = state.open && !state.open.draft && state.chats.get(state.open.id);
    const ids = chat ? chat.users : state.open && state.open.draft ? [state.open.user.id] : [];
    const others = ids.filter((id) => id !== state.me.id && state.names.has(id));
    const names = others.map((id) => nameOf(state, id));
    const caret = input.selectionStart;
    this.at = caret === input.selectionEnd ? mentionAt(input.value, caret) : null;
    this.choices = this.at ? suggest(names, this.at.query) : [];
    this.chosen = 0;
    this.drawChoices();
  }

  drawChoices() {
    const list = $("mention-list");
    list.replaceChildren(...this.choices.map((name, i) => el("li", {
      role: "option", id: `mention-${i}`, "aria-selected": String(i === this.chosen), text: `@${name}`,
      // mousedown, not click: the textarea keeps the focus and its caret.
      onmousedown: (event) => {
        event.preventDefault();
        this.choose(i);
      },
    })));
    show(list, this.choices.length > 0);
    const active = this.choices.length ? `mention-${this.chosen}` : false;
    if (active) $("composer-input").setAttribute("aria-activedescendant", active);
    else $("composer-input").removeAttribute("aria-activedescendant");
  }

  choose(i) {
    const input = $("composer-input");
    const done = complete(input.value, input.selectionStart, this.at, this.choices[i]);
    input.value = done.text;
    input.setSelectionRange(done.caret, done.caret);
    this.choices = [];
    this.drawChoices();
  }

  // The keys the suggestions (or the reply) take before the composer does: true when taken.
  key(event) {
    const n = this.choices.length;
    if (n && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      this.chosen = (this.chosen + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.drawChoices();
    } else if (n && (event.key === "Enter" || event.key === "Tab")) {
      this.choose(this.chosen);
    } else if (event.key === "Escape" && (n || this.app.state.reply)) {
      if (n) {
        this.choices = [];
        this.drawChoices();
      } else this.app.dispatch({ type: "reply.stop" });
    } else return false;
    event.preventDefault();
    return true;
  }

  render(state) {
    if (this.choices.length && state.open?.id !== this.chat) {
      this.choices = []; // suggested for another chat
      this.drawChoices();
    }
    this.chat = state.open?.id;
    const open = state.open && !state.open.draft ? state.open : null;
    const reply = open && state.reply && state.reply.chat === open.id ? state.reply : null;
    show($("reply-bar"), Boolean(reply));
    const text = reply ? `Replying to ${nameOf(state, reply.author)}: ${reply.excerpt}` : "";
    if ($("reply-text").textContent !== text) $("reply-text").textContent = text;
    const now = Date.now();
    const typing = open ? typingLine(state, open.id, now) : "";
    if ($("typing").textContent !== typing) $("typing").textContent = typing;
    // Each shows for TYPING_SHOW_MS after its last signal: wake up when the first one lapses.
    clearTimeout(this.expiry);
    if (state.typing.size) {
      const wait = Math.max(0, Math.min(...state.typing.values()) - now) + 50;
      const expire = () => this.app.dispatch({ type: "typing.expire", now: Date.now() });
      this.expiry = setTimeout(expire, wait);
    }
  }
}
