// The v1 HTTP API: one place that adds the token, reads chatd's error shape and turns a
// failure into an ApiError the screens can show as it is.

import { sentence } from "./rules.js";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status; // 0: the request never got an answer (offline, server down)
    this.code = code;
    this.retryAfter = retryAfter; // seconds, for 429
  }
  get offline() {
    return this.status === 0;
  }
}

export class Api {
  constructor() {
    this.token = null;
  }

  async request(method, path, { body, idempotencyKey } = {}) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let response;
    try {
      response = await fetch(`/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "offline", "Cannot reach the server. Check your connection.");
    }
    if (response.status === 204) return null;
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (response.ok) return payload;
    const error = payload && payload.error ? payload.error : {};
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(
      response.status,
      error.code || "http_error",
      error.message || `The server answered ${response.status}.`,
      Number.isFinite(retry) ? retry : null,
    );
  }

  get(path) {
    return this.request("GET", path);
  }
  post(path, body, idempotencyKey) {
    return this.request("POST", path, { body, idempotencyKey });
  }
  patch(path, body, idempotencyKey) {
    return this.request("PATCH", path, { body, idempotencyKey });
  }
  put(path) {
    return this.request("PUT", path);
  }
  delete(path) {
    return this.request("DELETE", path);
  }
}

// A user's words for an error, for the forms that show it: always a sentence (rules.js).
export function describe(error) {
  return sentence(words(error));
}

function words(error) {
  if (!(error instanceof ApiError)) return String(error);
  if (error.code === "rate_limited") {
    const wait = error.retryAfter ?? 60;
    return `Too many attempts. Try again in ${wait} second${wait === 1 ? "" : "s"}.`;
  }
  if (error.code === "user_blocked") return "This account is blocked by a moderator.";
  if (error.code === "unauthenticated" && error.status === 401) {
    return "Wrong username or password.";
  }
  if (error.code === "username_taken") return "That username is taken.";
  return error.message;
}
