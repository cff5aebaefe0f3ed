// latchkey.js — browser client for a latchkey server on the same site.
// Dependency-free ES module. The session lives in HttpOnly cookies the page
// never sees; the CSRF token is kept in memory only (never in storage).

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const CSRF_HEADER = "X-CSRF-Token";
// Where latchkey is mounted: this module is served at `<base>/latchkey.js`.
let base = new URL(".", import.meta.url).pathname.replace(/\/+$/, "");
let csrf = null; // current CSRF token, memory only
let csrfLoading = null; // in-flight GET /auth/session
let refreshing = null; // in-flight POST /auth/refresh, shared by every caller
let refreshGen = 0; // bumped after each successful refresh
let refreshMissing = false; // /auth/refresh answered 404: strategy has none

/** An error answer of the latchkey API (`{error, message}`), or a network failure (`status` 0). */
export class LatchkeyError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached.
   * @param {string} code the contract's error code (`unauthenticated`, `conflict`, …).
   * @param {string} message human-readable text from the server.
   * @param {number|null} [retryAfter] seconds from `Retry-After` (429, 503), if any.
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "LatchkeyError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * Sets options. `base` is the path prefix where latchkey's `/auth/…` routes
 * are mounted; by default, where this module was loaded from (`""` for
 * `/latchkey.js`, `"/id"` for `/id/latchkey.js`). It applies to the
 * helpers, not to `fetch`.
 * @param {{base?: string}} options
 */
export function configure(options = {}) {
  if (typeof options.base === "string") base = options.base.replace(/\/+$/, "");
}

const url = (path) => base + path;
const resolve = (u) => (globalThis.location ? new URL(u, location.href) : u);
const sameOrigin = (u) => !globalThis.location || new URL(u).origin === location.origin;

async function errorOf(res) {
  let body = null;
  try { body = await res.clone().json(); } catch { /* not JSON */ }
  const retry = Number.parseInt(res.headers.get("Retry-After") || "", 10);
  return new LatchkeyError(res.status,
    body && typeof body.error === "string" ? body.error : "http_error",
    body && typeof body.message === "string" ? body.message : `HTTP ${res.status}`,
    Number.isFinite(retry) ? retry : null);
}

async function codeOf(res) {
  try { const b = await res.clone().json(); return b && b.error; } catch { return null; }
}

/** GET /auth/session without retries; remembers the CSRF token. */
async function loadSession() {
  const res = await globalThis.fetch(url("/auth/session"), { credentials: "same-origin" });
  if (!res.ok) return null;
  const body = await res.json();
  if (body && body.csrf_token) csrf = body.csrf_token;
  return body;
}

/** The CSRF token, fetched once (shared) when unknown or equal to `stale`. */
function csrfToken(stale) {
  if (csrf && csrf !== stale) return Promise.resolve(csrf);
  csrf = null;
  if (!csrfLoading) {
    csrfLoading = loadSession().then(() => csrf, () => null).finally(() => { csrfLoading = null; });
  }
  return csrfLoading;
}

/** POST /auth/refresh, at most one in flight; resolves true when renewed. */
function refreshOnce() {
  if (refreshMissing) return Promise.resolve(false);
  if (!refreshing) {
    refreshing = (async () => {
      // After a reload the token is gone and /auth/session needs the access
      // cookie that just expired: the refresh cookie's own path tells it.
      if (!csrf) {
        const got = await globalThis.fetch(url("/auth/refresh"), { credentials: "same-origin" });
        if (got.status === 404) { refreshMissing = true; return false; }
        const body = got.ok ? await got.json().catch(() => null) : null;
        if (body && body.csrf_token) csrf = body.csrf_token;
      }
      const headers = csrf ? { [CSRF_HEADER]: csrf } : {};
      const res = await globalThis.fetch(url("/auth/refresh"), { method: "POST", credentials: "same-origin", headers });
      if (res.status === 404) { refreshMissing = true; return false; }
      if (!res.ok) return false;
      const body = await res.json().catch(() => null);
      if (body && body.csrf_token) csrf = body.csrf_token;
      refreshGen += 1;
      return true;
    })().catch(() => false).finally(() => { refreshing = null; });
  }
  return refreshing;
}

/**
 * `window.fetch` for the app's own same-origin API. Sends cookies
 * (`credentials: "same-origin"` unless `init.credentials` says otherwise),
 * adds `X-CSRF-Token` to every method but GET/HEAD/OPTIONS (loading the token
 * from `GET /auth/session` when none is in memory), refetches the token and
 * retries once on `403 csrf_failed`, and on `401 unauthenticated` refreshes
 * (`POST /auth/refresh`, one refresh shared by all callers) and retries once.
 * Without a refresh endpoint (404) or when refresh fails, the 401 is returned.
 * Cross-origin URLs go to `window.fetch` untouched (no token is ever sent).
 * Bodies must be replayable (string, FormData, Blob, …), not streams.
 * @param {RequestInfo|URL} input
 * @param {RequestInit} [init]
 * @returns {Promise<Response>} like fetch: rejects only on network failure.
 */
async function lkFetch(input, init) {
  init = init || {};
  const make = (token) => {
    const req = new Request(input instanceof Request ? input.clone() : resolve(input),
      { ...init, credentials: init.credentials || "same-origin" });
    if (token) req.headers.set(CSRF_HEADER, token);
    return req;
  };
  const probe = make(null);
  if (!sameOrigin(probe.url)) return globalThis.fetch(probe);
  const unsafe = !SAFE.has(probe.method.toUpperCase());
  let csrfRetried = false;
  let refreshed = false;
  for (;;) {
    const token = unsafe ? await csrfToken() : null;
    const gen = refreshGen;
    const res = await globalThis.fetch(make(token));
    if (res.status !== 401 && res.status !== 403) return res;
    const code = await codeOf(res);
    if (res.status === 403 && code === "csrf_failed" && unsafe && !csrfRetried) {
      csrfRetried = true;
      await csrfToken(token);
      continue;
    }
    if (res.status === 401 && code === "unauthenticated" && !refreshed) {
      refreshed = true;
      // Another caller may have refreshed while this request was out.
      if (gen !== refreshGen || (await refreshOnce())) continue;
    }
    return res;
  }
}
export { lkFetch as fetch };

/** Calls the API, returns the parsed JSON (or null for 204), throws LatchkeyError. */
async function call(path, { method = "GET", body, raw = false } = {}) {
  const init = { method, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = raw ? await globalThis.fetch(url(path), init) : await lkFetch(url(path), init);
  } catch {
    throw new LatchkeyError(0, "network_error", "Could not reach the server.");
  }
  if (!res.ok) throw await errorOf(res);
  return res.status === 204 ? null : res.json();
}

/**
 * Signs in as a web client. Resolves `{user_id, username, session_id, csrf_token, expires_at}`;
 * the session cookie is set by the server and the CSRF token kept in memory.
 * Wrong credentials reject with `LatchkeyError` status 401.
 * @param {string} username
 * @param {string} password
 */
export async function login(username, password) {
  const body = await call("/auth/login", { method: "POST", body: { username, password, client: "web" }, raw: true });
  csrf = body.csrf_token || null;
  return body;
}

/**
 * Creates an account (does not sign in). Resolves `{id, username}`;
 * rejects with 409 `conflict` for a taken name, 400 `invalid_request` for bad input.
 * @param {string} username
 * @param {string} password
 */
export function register(username, password) {
  return call("/auth/register", { method: "POST", body: { username, password }, raw: true });
}

/** Ends this session (`POST /auth/logout`). Also resolves when it had already ended (401). */
export async function logout() {
  try { await call("/auth/logout", { method: "POST" }); } catch (e) {
    if (!(e instanceof LatchkeyError && e.status === 401)) throw e;
  } finally { csrf = null; }
}

/** Ends every session of the user, this one included (`POST /auth/logout-all`). */
export async function logoutAll() {
  await call("/auth/logout-all", { method: "POST" });
  csrf = null;
}

/** Who is signed in: `{user_id, username, session_id}`; 401 rejects when nobody is. */
export function me() { return call("/auth/me"); }

/**
 * The current session (`GET /auth/session`): a `sessions()` entry plus
 * `user_id`, `username` and, for browsers, `csrf_token` (which is remembered).
 */
export async function session() {
  const body = await call("/auth/session");
  if (body && body.csrf_token) csrf = body.csrf_token;
  return body;
}

/** The user's live sessions, newest first (`GET /auth/sessions`). */
export function sessions() { return call("/auth/sessions"); }

/** Ends one of the user's sessions by id (`DELETE /auth/sessions/{id}`); 404 if not theirs or gone. */
export function endSession(id) {
  return call(`/auth/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
}

/**
 * Changes the password; every other session is signed out (`POST /auth/password`).
 * A wrong current password rejects with 403 `forbidden`.
 */
export function changePassword(currentPassword, newPassword) {
  return call("/auth/password", { method: "POST", body: { current_password: currentPassword, new_password: newPassword } });
}

/**
 * One page of the security log, newest first: `{events: [...], next_cursor}`.
 * @param {{limit?: number, cursor?: string|null}} [options]
 */
export function events({ limit = 20, cursor = null } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (cursor) q.set("cursor", cursor);
  return call(`/auth/events?${q}`);
}
