// Bidirectional override and isolate controls let a name or a file name
// display reversed ("gpj.exe" shown as "exe.jpg"); they are removed from
// everything shown, and user text is also isolated with <bdi>/dir="auto".
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

export function cleanText(s: string | null | undefined): string {
  return (s ?? "").replace(BIDI_CONTROLS, "");
}

export type Segment = { kind: "text"; text: string } | { kind: "link"; text: string; href: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"，。！？；：、）】」』]+$/;

/** Splits text into plain runs and http(s) links; nothing else ever becomes a link. */
export function linkify(input: string): Segment[] {
  const text = cleanText(input);
  const out: Segment[] = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    let raw = m[0];
    const trail = TRAILING.exec(raw);
    // Keep a closing parenthesis that belongs to the URL, as in wiki links.
    if (trail) raw = raw.slice(0, raw.length - trail[0].length);
    const start = m.index ?? 0;
    const href = safeHref(raw);
    if (!href) continue;
    if (start > last) out.push({ kind: "text", text: text.slice(last, start) });
    out.push({ kind: "link", text: raw, href });
    last = start + raw.length;
  }
  if (last < text.length) out.push({ kind: "text", text: text.slice(last) });
  return out;
}

export function safeHref(raw: string): string | null {
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
    return u.href;
  } catch {
    return null;
  }
}
