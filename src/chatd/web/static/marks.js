// What a text shows marked (the words a search found, the mentions of a message) and the
// "@name" being typed in the composer: pure (tests in tests/js/marks.test.mjs).

// The server counts offsets in code points; a JS string counts UTF-16 units, so an emoji
// before a word would shift every mark after it. [{start, end}] in code points -> JS units.
export function fromCodePoints(text, ranges) {
  const units = [0];
  for (const ch of text) units.push(units[units.length - 1] + ch.length);
  const at = (i) => units[Math.max(0, Math.min(i, units.length - 1))];
  return ranges.map((r) => ({ start: at(r.start), end: at(r.end) }));
}

// The text cut into [{ text, mark }] at the ranges (JS units; sorted, overlaps dropped).
export function segments(text, ranges) {
  const out = [];
  let at = 0;
  for (const { start, end } of [...ranges].sort((a, b) => a.start - b.start)) {
    if (start < at || end <= start) continue;
    if (start > at) out.push({ text: text.slice(at, start), mark: false });
    out.push({ text: text.slice(start, end), mark: true });
    at = end;
  }
  if (at < text.length || !out.length) out.push({ text: text.slice(at), mark: false });
  return out;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// Where "@name" of each mentioned user's name stands in the text (the server says who is
// mentioned; this only finds where), the longest name first when one is the start of another.
export function mentionRanges(text, names) {
  const ranges = [];
  for (const name of [...names].sort((a, b) => b.length - a.length)) {
    const found = new RegExp(`@${escape(name)}(?![\\p{L}\\p{N}_])`, "giu");
    for (const m of text.matchAll(found)) {
      const r = { start: m.index, end: m.index + m[0].length };
      if (!ranges.some((o) => r.start < o.end && o.start < r.end)) ranges.push(r);
    }
  }
  return ranges;
}

// The "@prefix" the caret stands just after, if any: { start (of the "@"), query }. An "@"
// inside a word (an e-mail address) is not one.
export function mentionAt(text, caret) {
  const before = text.slice(0, caret);
  const m = /(^|[^\p{L}\p{N}_])@([^\s@]*)$/u.exec(before);
  return m ? { start: caret - m[2].length - 1, query: m[2] } : null;
}

// Usernames that start with the query, case-insensitively, at most `max`, in name order.
export function suggest(names, query, max = 6) {
  const q = query.toLowerCase();
  return names.filter((n) => n.toLowerCase().startsWith(q)).sort().slice(0, max);
}

// The composer's text with the mention at `at` (mentionAt) completed to "@name ".
export function complete(text, caret, at, name) {
  const head = `${text.slice(0, at.start)}@${name} `;
  return { text: head + text.slice(caret).replace(/^ /, ""), caret: head.length };
}
