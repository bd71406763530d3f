// What the client tells before the server refuses, and how it says a refusal
// (src/chatd/web/static/rules.js).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import {
  CHAT_NAME_MAX, HINTS, PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, chatNameProblem, passwordProblem,
  sentence,
} from "../../src/chatd/web/static/rules.js";

const core = (name) => readFileSync(new URL(`../../src/chatd/core/${name}`, import.meta.url), "utf8");
const constant = (source, name) => Number(source.match(new RegExp(`^${name} = (\\d+)$`, "m"))[1]);

describe("rules", () => {
  test("are the server's", () => {
    assert.equal(USERNAME_MAX, constant(core("users.py"), "USERNAME_MAX"));
    assert.equal(PASSWORD_MIN, constant(core("accounts.py"), "PASSWORD_MIN"));
    assert.equal(PASSWORD_MAX, constant(core("accounts.py"), "PASSWORD_MAX"));
    assert.equal(CHAT_NAME_MAX, constant(core("chats.py"), "CHAT_NAME_MAX"));
    assert.equal(HINTS.password, "8 to 1024 characters.");
    assert.equal(HINTS.username, "Up to 64 characters.");
  });

  test("a password is checked as the server counts it (code points)", () => {
    assert.equal(passwordProblem("x".repeat(8)), null);
    assert.equal(passwordProblem("x".repeat(1024)), null);
    assert.equal(passwordProblem("😀".repeat(8)), null, "8 characters, 16 UTF-16 units");
    assert.equal(passwordProblem("short"), "Your password must be 8 to 1024 characters long.");
    assert.equal(passwordProblem("x".repeat(1025)), "Your password must be 8 to 1024 characters long.");
  });

  test("a chat needs a name", () => {
    assert.equal(chatNameProblem("   "), "Name must not be empty.");
    assert.equal(chatNameProblem(" plans "), null);
  });

  test("a refusal is a sentence", () => {
    assert.equal(sentence("name must not be empty"), "Name must not be empty.");
    assert.equal(sentence("That is you."), "That is you.");
    assert.equal(sentence("Too many attempts. Try again in 5 seconds."), "Too many attempts. Try again in 5 seconds.");
    assert.equal(sentence("  a chat named \"x\" exists already "), "A chat named \"x\" exists already.");
    assert.equal(sentence(""), "");
    assert.equal(sentence(null), "");
  });
});
