// What the message view shows, worked out from the state: pure, like state.js (tests in
// tests/js/timeline.test.mjs). The open chat's items in order, what an outbox operation says
// while it waits, and the length rules of a message's text.

import { isModerator } from "./state.js";

// The server counts characters as Python does (code points), not UTF-16 units as .length.
export function textLength(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

// The counter under the composer: shown from 80% of the limit on, `over` past it.
export function lengthCheck(text, maxLength) {
  if (!maxLength) return { length: 0, show: false, over: false, label: "" };
  const length = textLength(text);
  return {
    length,
    show: length >= maxLength * 0.8,
    over: length > maxLength,
    label: `${length} / ${maxLength}`,
  };
}

export function tooLong(text, maxLength) {
  const length = textLength(text);
  if (!maxLength || length <= maxLength) return null;
  return `Too long: ${length} characters, at most ${maxLength}. Shorten it by ${length - maxLength}.`;
}

const VERBS = {
  send: ["Sending…", "sent"],
  edit: ["Saving…", "saved"],
  delete: ["Deleting…", "deleted"],
};

export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// Why an operation has not reached the server yet, in words: the reason and until when.
export function opStatus(op) {
  const [doing, done] = VERBS[op.kind];
  if (op.status === "failed") return `Not ${done}: ${op.error || "error"}`;
  if (op.status === "sending") return doing;
  if (op.status === "queued") return `Queued: ${doing.toLowerCase()}`;
  const until = op.until ? ` at ${clock(op.until)}` : "";
  const why = {
    offline: "no connection; retrying when it is back",
    rate_limited: `too many messages at once (rate limited); retrying${until}`,
    server: `the server did not answer; retrying${until}`,
    busy: `the server is still on it; retrying${until}`,
    blocked: "your account is blocked",
  }[op.reason] || `retrying${until}`;
  return `Not ${done} yet: ${why}`;
}

// The open chat's items, oldest first: confirmed messages (with an edit or delete that waits
// shown on them), then sends not yet confirmed in the order they were typed.
export function timeline(s) {
  const open = s.open;
  if (!open) return [];
  const me = s.me ? s.me.id : null;
  const byMessage = new Map();
  for (const op of s.ops) {
    if (op.kind !== "send") byMessage.set(op.message, op); // the latest one shows
  }
  const items = [...open.messages.values()].sort((a, b) => a.seq - b.seq).map((message) => {
    const own = message.author === me;
    const op = message.deleted ? null : byMessage.get(message.id) || null;
    const editing = Boolean(s.editing && s.editing.id === message.id && !message.deleted);
    const busy = op && op.status !== "failed";
    const canDelete = (own || isModerator(s)) && !message.deleted && !s.blocked && !editing && !busy;
    return {
      kind: "message", key: `m${message.id}`, message, own, op, editing,
      text: op && op.kind === "edit" ? op.text : message.text,
      status: op ? opStatus(op) : null,
      canEdit: own && !message.deleted && !s.blocked && !editing && !(busy && op.kind === "delete"),
      canDelete,
      asking: canDelete && s.asking === message.id, // its Delete waits for a second click
    };
  });
  // A draft's sends show there until the chat the first one made is open.
  const here = (op) => (open.draft ? op.user === open.user.id : op.chat === open.id);
  for (const op of s.ops) {
    if (op.kind !== "send" || !here(op)) continue;
    if (s.echoes.has(op.key) && open.messages && open.messages.has(s.echoes.get(op.key))) continue;
    items.push({ kind: "pending", key: op.key, op, own: true, text: op.text, status: opStatus(op) });
  }
  return items;
}

// The seq of the newest confirmed message among `items` (0 if none): when it grows, a message
// has arrived (an older page loaded, an edit or a pending send does not make it grow).
export function newestSeq(items) {
  let seq = 0;
  for (const item of items) if (item.kind === "message" && item.message.seq > seq) seq = item.message.seq;
  return seq;
}
