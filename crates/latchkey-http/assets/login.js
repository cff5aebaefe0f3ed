// Page script for "/": sign in and registration.
import { login, register, me, LatchkeyError } from "../latchkey.js";

const $ = (id) => document.getElementById(id);

/** Fixed texts for the reasons "/?signed_out=…" may carry (never echoed from the URL). */
const NOTICES = {
  you: "You have been signed out.",
  everywhere: "You have been signed out on every device.",
  revoked: "Your session was ended. Please sign in again.",
  expired: "Your session has expired. Please sign in again.",
};

function explain(err, action) {
  if (!(err instanceof LatchkeyError)) return "Something went wrong. Please try again.";
  switch (err.code) {
    case "network_error":
      return "Could not reach the server. Check your connection and try again.";
    case "unauthenticated":
      return action === "signin" ? "Wrong username or password." : err.message;
    case "conflict":
      return "That username is already taken. Choose another one.";
    case "rate_limited":
      return err.retryAfter
        ? `Too many attempts. Try again in ${err.retryAfter} second${err.retryAfter === 1 ? "" : "s"}.`
        : "Too many attempts. Please wait a moment and try again.";
    case "unavailable":
      return "The service is busy right now. Please try again in a moment.";
    case "invalid_request":
      return err.message || "Please check what you entered.";
    case "csrf_failed":
      return "This request was refused for security reasons. Reload the page and try again.";
    default:
      return err.message || "Something went wrong. Please try again.";
  }
}

function busy(form, on) {
  form.setAttribute("aria-busy", on ? "true" : "false");
  for (const el of form.elements) el.disabled = on;
}

function showError(id, text) {
  const el = $(id);
  el.textContent = text;
}

function goToAccount() {
  location.replace(new URL("../account", import.meta.url));
}

async function onSignIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  showError("signin-error", "");
  busy(form, true);
  try {
    await login(username, password);
    goToAccount();
  } catch (err) {
    busy(form, false);
    showError("signin-error", explain(err, "signin"));
    form.elements.password.value = "";
    form.elements.password.focus();
  }
}

async function onRegister(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (password !== form.elements.confirm.value) {
    showError("register-error", "The two passwords do not match.");
    form.elements.confirm.focus();
    return;
  }
  showError("register-error", "");
  busy(form, true);
  let created = false;
  try {
    await register(username, password);
    created = true;
    await login(username, password);
    goToAccount();
  } catch (err) {
    busy(form, false);
    const text = explain(err, created ? "signin" : "register");
    showError("register-error", created ? `Your account was created, but signing in failed: ${text}` : text);
  }
}

function checkConfirm() {
  const form = $("register");
  const confirm = form.elements.confirm;
  confirm.setCustomValidity(
    confirm.value && confirm.value !== form.elements.password.value ? "The two passwords do not match." : "",
  );
}

function showNotice() {
  const reason = new URLSearchParams(location.search).get("signed_out");
  if (reason && Object.hasOwn(NOTICES, reason)) {
    $("notice").textContent = NOTICES[reason];
    history.replaceState(null, "", location.pathname);
  }
}

function init() {
  showNotice();
  $("signin").addEventListener("submit", onSignIn);
  $("register").addEventListener("submit", onRegister);
  $("register-password").addEventListener("input", checkConfirm);
  $("register-confirm").addEventListener("input", checkConfirm);
  // Already signed in? Then this page has nothing to offer.
  me().then(goToAccount, () => {});
}

init();
