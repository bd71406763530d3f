// What the server accepts, said before it is asked, and how a refusal is put to the person: a
// pure module, like state.js (tests in tests/js/rules.test.mjs, which also check the numbers
// against the server's core/users.py and core/accounts.py).
//
// A refusal is a sentence: the server's messages are written for logs and API clients
// ("password must be 8 to 1024 characters long"); `sentence` gives them a capital and a full
// stop in one place (api.js `describe`). A check made here before sending states the same rule
// with the same numbers (HINTS, passwordProblem), and a node test keeps the numbers the server's.

import { textLength } from "./timeline.js";

export const USERNAME_MAX = 64; // core/users.py USERNAME_MAX
export const PASSWORD_MIN = 8; // core/accounts.py PASSWORD_MIN
export const PASSWORD_MAX = 1024; // core/accounts.py PASSWORD_MAX
export const CHAT_NAME_MAX = 128; // core/chats.py CHAT_NAME_MAX

// The hints under the login form's fields.
export const HINTS = {
  username: `Up to ${USERNAME_MAX} characters.`,
  password: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`,
};

export function sentence(text) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return "";
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

// Why a new account's password would be refused (the server's rule and numbers, said to the
// person); null when it would not.
export function passwordProblem(password) {
  const length = textLength(password);
  if (length >= PASSWORD_MIN && length <= PASSWORD_MAX) return null;
  return `Your password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters long.`;
}

// Why a group's name would be refused, in the server's words (core/users.py check_name); the
// inputs' maxlength keeps it short enough.
export function chatNameProblem(name) {
  return name.trim() ? null : sentence("name must not be empty");
}
