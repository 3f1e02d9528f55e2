import { ApiError, request } from "../api/http";
import { Signal } from "./reactive";

// <img> and <video> cannot send an Authorization header, so file URLs carry
// a short-lived media token (`?mt=`) that the file routes alone accept.
let current: string | null = null;
let inflight: Promise<void> | null = null;
let renewTimer: ReturnType<typeof setTimeout> | null = null;
/** Bumped by a reset, so a refresh that finishes after logout is dropped. */
let generation = 0;
export const mediaSignal = new Signal();

/** How long a token lives, from the server's own clock (its `iat` and `exp`), not ours. */
function lifetimeMs(token: string): number | null {
  try {
    const payload = JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) as { iat?: number; exp?: number };
    return payload.iat && payload.exp && payload.exp > payload.iat ? (payload.exp - payload.iat) * 1000 : null;
  } catch {
    return null;
  }
}

export function resetMediaToken(): void {
  generation++;
  current = null;
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = null;
  mediaSignal.notify();
}

export function refreshMediaToken(): Promise<void> {
  if (inflight) return inflight;
  const gen = generation;
  inflight = (async () => {
    try {
      const res = await request<{ token: string; expires_at: string }>("POST", "/auth/media-token");
      if (gen !== generation) return;
      // The lifetime comes from the token (server time on both ends), so a
      // wrong clock here neither lets it lapse nor renews it in a loop.
      const life = lifetimeMs(res.token) ?? 600_000;
      current = res.token;
      mediaSignal.notify();
      if (renewTimer) clearTimeout(renewTimer);
      // Renew past half its life, so a URL handed to <video> stays valid while it streams.
      renewTimer = setTimeout(() => void refreshMediaToken(), Math.min(Math.max(10_000, life / 2), 3_600_000));
    } catch (e) {
      if (gen !== generation) return;
      if (renewTimer) clearTimeout(renewTimer);
      // An ended session is handled by the session code; anything else is retried.
      if (e instanceof ApiError && e.status === 401) return;
      renewTimer = setTimeout(() => void refreshMediaToken(), 30_000);
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/** A file URL the browser can load by itself, or null until a media token is at hand. */
export function mediaUrl(path: string | null | undefined): string | null {
  if (!path || !current) return null;
  if (!path.startsWith("/") || path.startsWith("//")) return null;
  return `${path}${path.includes("?") ? "&" : "?"}mt=${encodeURIComponent(current)}`;
}
