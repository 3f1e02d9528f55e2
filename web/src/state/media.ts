import { request } from "../api/http";
import { Signal } from "./reactive";

// <img> and <video> cannot send an Authorization header, so file URLs carry
// a short-lived media token (`?mt=`) that the file routes alone accept.
interface MediaToken {
  token: string;
  issued: number;
  expires: number;
}

let current: MediaToken | null = null;
let inflight: Promise<void> | null = null;
let renewTimer: ReturnType<typeof setTimeout> | null = null;
export const mediaSignal = new Signal();

export function resetMediaToken(): void {
  current = null;
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = null;
  mediaSignal.notify();
}

export function refreshMediaToken(): Promise<void> {
  if (inflight) return inflight;
  inflight = (async () => {
    try {
      const res = await request<{ token: string; expires_at: string }>("POST", "/auth/media-token");
      const now = Date.now();
      const expires = Date.parse(res.expires_at) || now + 600_000;
      current = { token: res.token, issued: now, expires };
      mediaSignal.notify();
      if (renewTimer) clearTimeout(renewTimer);
      // Renew past half its life, so a URL handed to <video> stays valid while it streams.
      renewTimer = setTimeout(() => void refreshMediaToken(), Math.max(10_000, (expires - now) / 2));
    } catch {
      if (renewTimer) clearTimeout(renewTimer);
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
  return `${path}${path.includes("?") ? "&" : "?"}mt=${encodeURIComponent(current.token)}`;
}
