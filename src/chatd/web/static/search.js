// The search box and what it found, in the sidebar: each result names its chat and author,
// marks the words the server found, and opens the chat at the message.

import { describe } from "./api.js";
import { $, el, say, show, when } from "./dom.js";
import { fromCodePoints, segments } from "./marks.js";
import { chatTitle, nameOf } from "./state.js";

const LEAD = 30; // characters kept before the first marked word of a long text

export class Search {
  // app: { api, state (getter), dispatch }; open(chat, message): the chat, at the message
  constructor(app, open) {
    this.app = app;
    this.open = open;
    this.shown = {};
    this.asked = 0; // only the latest question's answer is shown
  }

  async run(more = false) {
    const { api, dispatch, state } = this.app;
    const q = more ? state.search.q : $("search-input").value.trim();
    if (!q) return;
    const asked = ++this.asked;
    const scope = state.scopeAll ? "&scope=all" : "";
    const after = more ? `&cursor=${encodeURIComponent(state.search.next)}` : "";
    let shown;
    try {
      const page = await api.get(`/search?q=${encodeURIComponent(q)}&limit=20${scope}${after}`);
      shown = { results: page.results, next: page.next_cursor };
    } catch (err) {
      shown = { results: [], next: null, error: describe(err) };
    }
    if (asked === this.asked) dispatch({ type: "search.shown", q, more, ...shown });
  }

  close() {
    this.asked += 1;
    $("search-input").value = "";
    this.app.dispatch({ type: "search.closed" });
  }

  render(state) {
    const seen = { search: state.search, names: state.names, chats: state.chats };
    if (Object.keys(seen).every((k) => seen[k] === this.shown[k])) return;
    this.shown = seen;
    const search = state.search;
    show($("search-pane"), Boolean(search));
    if (!search) return;
    const items = search.results.map(({ message, highlights }) => {
      const chat = state.chats.get(message.chat);
      const parts = segments(message.text, fromCodePoints(message.text, highlights));
      if (parts.length > 1 && !parts[0].mark && parts[0].text.length > LEAD) {
        parts[0] = { text: `…${parts[0].text.slice(-LEAD)}` };
      }
      return el("li", {}, el("button", {
        type: "button", class: "chat-item", "data-result": String(message.id),
        onclick: () => this.open(message.chat, message.id),
      },
      el("span", { class: "chat-name", text: chat ? chatTitle(state, chat) : `chat ${message.chat}` }),
      el("time", { class: "chat-time", datetime: message.created_at, text: when(message.created_at) }),
      el("span", { class: "chat-excerpt" }, `${nameOf(state, message.author)}: `,
        ...parts.map((p) => (p.mark ? el("mark", { text: p.text }) : p.text)))));
    });
    $("search-results").replaceChildren(...items);
    say($("search-status"), search.error || (items.length ? "" : "No messages found."));
    show($("search-more"), Boolean(search.next));
  }

  wire(on) {
    on("search-form", "submit", () => this.run());
    on("search-more", "click", () => this.run(true));
    on("search-close", "click", () => this.close());
  }
}
