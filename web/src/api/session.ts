import type { Me } from "./wire";

// The access token lives in localStorage so a reload keeps the session; the
// server renews it past half its life (response header or `ready.token`).
const TOKEN_KEY = "roomy.token";
const USER_KEY = "roomy.user";
const ENDED_KEY = "roomy.ended";

export const SESSION_END_CODES = new Set([
  "invalid_token",
  "token_expired",
  "session_ended",
  "account_disabled",
  "unauthenticated",
]);

type Listener = () => void;
const listeners = new Set<Listener>();

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage full or blocked: the session then lasts for this page only.
  }
}

let token: string | null = read(TOKEN_KEY);
let user: Me | null = (() => {
  const raw = read(USER_KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Me;
  } catch {
    return null;
  }
})();

export function getToken(): string | null {
  return token;
}

export function getUser(): Me | null {
  return user;
}

export function isLoggedIn(): boolean {
  return token !== null;
}

export function startSession(newToken: string, me: Me): void {
  token = newToken;
  user = me;
  write(TOKEN_KEY, newToken);
  write(USER_KEY, JSON.stringify(me));
  write(ENDED_KEY, null);
  listeners.forEach((f) => f());
}

export function setUser(me: Me): void {
  user = me;
  write(USER_KEY, JSON.stringify(me));
  listeners.forEach((f) => f());
}

/** A renewed token: same session, new expiry. */
export function renewToken(newToken: string): void {
  if (!token || newToken === token) return;
  token = newToken;
  write(TOKEN_KEY, newToken);
}

/** Ends the session locally; `reason` is an error code shown on the login page. */
export function endSession(reason: string | null): void {
  const had = token !== null;
  token = null;
  user = null;
  write(TOKEN_KEY, null);
  write(USER_KEY, null);
  write(ENDED_KEY, reason);
  if (had) listeners.forEach((f) => f());
}

/** Why the last session ended, once (the login page shows it). */
export function takeEndReason(): string | null {
  const r = read(ENDED_KEY);
  return r;
}

export function clearEndReason(): void {
  write(ENDED_KEY, null);
}

export function onSessionChange(f: Listener): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

// Another tab logging in or out changes the same storage.
if (typeof window !== "undefined") {
  window.addEventListener("storage", (e) => {
    if (e.key !== TOKEN_KEY) return;
    const next = e.newValue;
    if (next === token) return;
    token = next;
    if (next === null) {
      user = null;
      listeners.forEach((f) => f());
    } else if (user === null) {
      const raw = read(USER_KEY);
      user = raw ? (JSON.parse(raw) as Me) : null;
      listeners.forEach((f) => f());
    }
  });
}
