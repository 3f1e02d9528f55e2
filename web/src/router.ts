import { useEffect, useState } from "preact/hooks";

// A tiny history-API router: the app has a handful of routes, and a
// dependency for this would outweigh the code.
export type Route =
  | { name: "home" }
  | { name: "login" }
  | { name: "register" }
  | { name: "room"; id: number }
  | { name: "friends" }
  | { name: "favorites" }
  | { name: "invite"; token: string }
  | { name: "notFound" };

export function parseRoute(path: string): Route {
  const p = path.replace(/\/+$/, "") || "/";
  if (p === "/") return { name: "home" };
  if (p === "/login") return { name: "login" };
  if (p === "/register") return { name: "register" };
  if (p === "/friends") return { name: "friends" };
  if (p === "/favorites") return { name: "favorites" };
  let m = /^\/rooms\/(\d+)$/.exec(p);
  if (m) return { name: "room", id: Number(m[1]) };
  m = /^\/invite\/([^/]+)$/.exec(p);
  if (m) return { name: "invite", token: decodeURIComponent(m[1]!) };
  return { name: "notFound" };
}

const listeners = new Set<() => void>();

export function currentPath(): string {
  return window.location.pathname;
}

export function navigate(path: string, replace = false): void {
  if (path === currentPath() + window.location.search) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  listeners.forEach((f) => f());
}

if (typeof window !== "undefined") {
  window.addEventListener("popstate", () => listeners.forEach((f) => f()));
}

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const f = () => setPath(currentPath());
    listeners.add(f);
    return () => {
      listeners.delete(f);
    };
  }, []);
  return path;
}

/** Click handler for in-app links: lets modified clicks open new tabs. */
export function linkClick(e: MouseEvent, href: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(href);
}
