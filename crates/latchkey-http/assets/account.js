// Page script for "/account": devices, password change, security log.
// Every server-provided string (usernames, user agents, device labels) goes
// into the page through textContent or attributes, never as markup.
import {
  session, sessions, endSession, logout, logoutAll, changePassword, events, LatchkeyError,
} from "../latchkey.js";

/** The sign-in page (wherever latchkey is mounted), saying why the user is there. */
const home = (reason) => new URL(`../?signed_out=${reason}`, import.meta.url);

const $ = (id) => document.getElementById(id);
let current = null; // GET /auth/session
let others = 0; // other live sessions, for the password-change message
let cursor = null; // next_cursor of the security log

const EVENT_LABELS = {
  login_succeeded: "Signed in",
  login_failed: "Failed sign-in attempt",
  logout: "Signed out",
  session_revoked: "Session ended",
  refresh_reuse_detected: "Reuse of an old sign-in token detected",
  anomaly_detected: "Unusual activity",
  password_changed: "Password changed",
};
const REASON_LABELS = {
  user: "by you",
  admin: "by an administrator",
  theft_detection: "suspected stolen token",
  token_reuse: "suspected stolen token",
  anomaly: "unusual activity",
  password_change: "password change",
  logout_all: "signed out everywhere",
  user_agent_changed: "different browser or app",
  ip_changed: "new network address",
  bad_current_password: "wrong current password while changing password",
};
const ALARMING = new Set(["login_failed", "refresh_reuse_detected", "anomaly_detected"]);

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** Creates an element; children are nodes or strings (inserted as text). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text != null) node.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function relative(date) {
  const secs = (date.getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [7, "day"], [4.35, "week"], [12, "month"], [Infinity, "year"]];
  let value = secs;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relFmt.format(Math.round(value), unit);
    value /= size;
  }
  return dateFmt.format(date);
}

/** A <time> element: relative text ("5 minutes ago") or an absolute date. */
function when(iso, rel = true) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return el("span", { text: "unknown" });
  const abs = dateFmt.format(date);
  const t = el("time", { text: rel ? relative(date) : abs, attrs: { datetime: iso, title: abs } });
  return t;
}

/** "a · b · c" from the non-empty parts. */
function meta(...parts) {
  const p = el("p", { class: "meta" });
  parts.filter((x) => x != null && x !== "").forEach((x, i) => {
    if (i) p.append(" · ");
    p.append(x);
  });
  return p;
}

function announce(text) {
  $("status").textContent = text;
}

function explain(err) {
  if (!(err instanceof LatchkeyError)) return "Something went wrong. Please try again.";
  if (err.code === "network_error") return "Could not reach the server. Check your connection and try again.";
  if (err.code === "rate_limited") {
    return err.retryAfter ? `Too many attempts. Try again in ${err.retryAfter} seconds.` : "Too many attempts. Please wait a moment.";
  }
  if (err.code === "unavailable") return "The service is busy right now. Please try again in a moment.";
  return err.message || "Something went wrong. Please try again.";
}

/** Sends the user to the sign-in page when the session is gone; true if it did. */
function leaveIfSignedOut(err) {
  if (err instanceof LatchkeyError && err.status === 401) {
    location.replace(home(err.code === "session_revoked" ? "revoked" : "expired"));
    return true;
  }
  return false;
}

function deviceItem(s) {
  const title = el("p", { class: "item-title" }, el("span", { text: s.device || "Unknown device" }));
  if (s.current) title.append(" ", el("span", { class: "badge", text: "This device" }));
  const details = el("details", {},
    el("summary", { text: "Details" }),
    el("dl", {},
      el("dt", { text: "Kind" }), el("dd", { text: s.client === "mobile" ? "App" : "Browser" }),
      el("dt", { text: "Last seen with" }), el("dd", { class: "ua", text: s.user_agent || "unknown" }),
      el("dt", { text: "Signed in" }), el("dd", {}, when(s.created_at, false)),
      el("dt", { text: "Signed in from" }), el("dd", { text: s.login_ip || "unknown address" }),
      el("dt", { text: "Signed in with" }), el("dd", { class: "ua", text: s.login_user_agent || "unknown" }),
      el("dt", { text: "Expires" }), el("dd", {}, when(s.expires_at, false))));
  const label = s.current ? "Sign out on this device" : `Sign out ${s.device || "device"}${s.ip ? ` at ${s.ip}` : ""}`;
  const button = el("button", { class: s.current ? "secondary" : "danger-outline", text: "Sign out", attrs: { type: "button", "aria-label": label } });
  button.addEventListener("click", () => (s.current ? signOutHere() : signOutDevice(s, button)));
  return el("li", { class: s.current ? "item current" : "item" },
    el("div", { class: "item-main" }, title,
      meta(s.ip || "unknown address", el("span", {}, "last active ", when(s.last_seen_at))), details),
    el("div", { class: "item-actions" }, button));
}

async function loadDevices() {
  $("devices-error").textContent = "";
  try {
    const list = await sessions();
    others = list.filter((s) => !s.current).length;
    $("devices").replaceChildren(...list.map(deviceItem));
  } catch (err) {
    if (!leaveIfSignedOut(err)) $("devices-error").textContent = `Could not load your devices. ${explain(err)}`;
  }
}

function eventItem(e) {
  const label = EVENT_LABELS[e.type] || e.type;
  const reason = e.reason ? REASON_LABELS[e.reason] || e.reason : null;
  const title = el("p", { class: "item-title" }, el("span", { text: reason ? `${label} (${reason})` : label }));
  if (current && e.session_id === current.id) title.append(" ", el("span", { class: "badge", text: "This device" }));
  return el("li", { class: ALARMING.has(e.type) ? "item warn" : "item" },
    el("div", { class: "item-main" }, title,
      meta(when(e.at), e.ip, e.device), typeof e.detail === "string" && e.detail ? meta(e.detail) : null));
}

async function loadEvents(more = false) {
  $("events-error").textContent = "";
  try {
    const page = await events({ limit: 20, cursor: more ? cursor : null });
    cursor = page.next_cursor || null;
    const items = (page.events || []).map(eventItem);
    if (more) $("events").append(...items); else $("events").replaceChildren(...items);
    $("events-empty").hidden = $("events").children.length > 0;
    $("events-more").hidden = !cursor;
  } catch (err) {
    if (!leaveIfSignedOut(err)) $("events-error").textContent = `Could not load your security activity. ${explain(err)}`;
  }
}

async function signOutDevice(s, button) {
  button.disabled = true;
  try {
    await endSession(s.id);
    announce(`Signed out ${s.device || "the device"}${s.ip ? ` at ${s.ip}` : ""}.`);
  } catch (err) {
    if (leaveIfSignedOut(err)) return;
    // 404: it had already ended; the reload below shows the truth.
    if (!(err instanceof LatchkeyError && err.status === 404)) $("devices-error").textContent = explain(err);
  }
  await Promise.all([loadDevices(), loadEvents()]);
  $("devices-title").focus();
}

async function signOutHere() {
  try {
    await logout();
    location.replace(home("you"));
  } catch (err) {
    if (!leaveIfSignedOut(err)) announce(`Could not sign out. ${explain(err)}`);
  }
}

async function signOutEverywhere() {
  if (!window.confirm("Sign out on every device, including this one?")) return;
  try {
    await logoutAll();
    location.replace(home("everywhere"));
  } catch (err) {
    if (!leaveIfSignedOut(err)) $("devices-error").textContent = `Could not sign out everywhere. ${explain(err)}`;
  }
}

function checkConfirm() {
  const f = $("password").elements;
  f.confirm.setCustomValidity(f.confirm.value && f.confirm.value !== f.next.value ? "The new passwords do not match." : "");
}

async function onPassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const f = form.elements;
  $("password-error").textContent = "";
  $("password-done").textContent = "";
  if (f.next.value !== f.confirm.value) {
    $("password-error").textContent = "The new passwords do not match.";
    f.confirm.focus();
    return;
  }
  const before = others;
  form.setAttribute("aria-busy", "true");
  for (const c of f) c.disabled = true;
  try {
    await changePassword(f.current.value, f.next.value);
    form.reset();
    f.username.value = current ? current.username : "";
    $("password-done").textContent = before === 0
      ? "Your password was changed."
      : `Your password was changed. ${before} other session${before === 1 ? " was" : "s were"} signed out.`;
    await Promise.all([loadDevices(), loadEvents()]);
  } catch (err) {
    if (leaveIfSignedOut(err)) return;
    $("password-error").textContent = err instanceof LatchkeyError && err.status === 403 && err.code === "forbidden"
      ? "Your current password is incorrect."
      : explain(err);
  } finally {
    form.setAttribute("aria-busy", "false");
    for (const c of f) c.disabled = false;
  }
}

async function init() {
  // Handlers first, so a quick submit never falls back to a plain form post.
  $("signout").addEventListener("click", signOutHere);
  $("signout-everywhere").addEventListener("click", signOutEverywhere);
  $("password").addEventListener("submit", onPassword);
  $("new-password").addEventListener("input", checkConfirm);
  $("confirm-password").addEventListener("input", checkConfirm);
  $("events-reload").addEventListener("click", () => loadEvents());
  $("events-more").addEventListener("click", () => loadEvents(true));
  $("devices-title").setAttribute("tabindex", "-1");
  try {
    current = await session();
  } catch (err) {
    if (!leaveIfSignedOut(err)) announce(`Could not load your account. ${explain(err)}`);
    return;
  }
  $("whoami").replaceChildren("Signed in as ", el("strong", { text: current.username }));
  $("password").elements.username.value = current.username;
  await Promise.all([loadDevices(), loadEvents()]);
  $("main").setAttribute("aria-busy", "false");
}

init();
