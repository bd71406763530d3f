// Marked words and "@name" completion (src/chatd/web/static/marks.js): pure.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  complete, fromCodePoints, mentionAt, mentionRanges, segments, suggest,
} from "../../src/chatd/web/static/marks.js";

const marked = (text, ranges) => segments(text, ranges).filter((s) => s.mark).map((s) => s.text);

describe("search highlights", () => {
  test("code point offsets land on the same words past characters of two UTF-16 units", () => {
    const text = "🍍🍍 ripe Pineapple 𝔸 here";
    // In Python: text.index("Pineapple") == 8, text.index("here") == 20
    const ranges = fromCodePoints(text, [{ start: 8, end: 17 }, { start: 20, end: 24 }]);
    assert.deepEqual(marked(text, ranges), ["Pineapple", "here"]);
  });

  test("plain text (Cyrillic too) keeps its offsets", () => {
    const text = "Привет, мир";
    assert.deepEqual(marked(text, fromCodePoints(text, [{ start: 8, end: 11 }])), ["мир"]);
  });

  test("segments cover the whole text in order, marks where asked", () => {
    assert.deepEqual(segments("ab cd ef", [{ start: 6, end: 8 }, { start: 0, end: 2 }]), [
      { text: "ab", mark: true }, { text: " cd ", mark: false }, { text: "ef", mark: true },
    ]);
    assert.deepEqual(segments("", []), [{ text: "", mark: false }]);
  });

  test("offsets past the end or overlapping are clamped or dropped, never thrown", () => {
    const text = "short";
    assert.deepEqual(marked(text, fromCodePoints(text, [{ start: 0, end: 99 }])), ["short"]);
    assert.deepEqual(marked("abcdef", [{ start: 0, end: 4 }, { start: 2, end: 6 }]), ["abcd"]);
  });
});

describe("mentions", () => {
  test("each mentioned name is found case-insensitively, only as a whole name", () => {
    const text = "hi @Bob and @bobby, not bob@example.org or @bobx";
    assert.deepEqual(marked(text, mentionRanges(text, ["bob", "bobby"])), ["@Bob", "@bobby"]);
  });

  test("names with regex characters are matched literally", () => {
    const text = "ping @a.b and @axb";
    assert.deepEqual(marked(text, mentionRanges(text, ["a.b"])), ["@a.b"]);
  });

  test("the @word before the caret is what suggestions complete", () => {
    assert.deepEqual(mentionAt("hello @al", 9), { start: 6, query: "al" });
    assert.deepEqual(mentionAt("@", 1), { start: 0, query: "" });
    assert.equal(mentionAt("mail me@al", 10), null);
    assert.equal(mentionAt("@al done", 8), null);
  });

  test("suggestions start with the query, any case, sorted, capped", () => {
    assert.deepEqual(suggest(["bob", "Alice", "alf", "carol"], "AL"), ["Alice", "alf"]);
    assert.equal(suggest(["a1", "a2", "a3", "a4", "a5", "a6", "a7"], "a").length, 6);
  });

  test("completing puts the full name and one space, and the caret after it", () => {
    const text = "hi @al how";
    const done = complete(text, 6, mentionAt(text, 6), "alice");
    assert.deepEqual(done, { text: "hi @alice how", caret: 10 });
  });
});
