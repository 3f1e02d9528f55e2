import { en, type MessageKey } from "./en";
import { zhCN } from "./zh-CN";

export type Lang = "en" | "zh-CN";
export const LANGS: readonly Lang[] = ["zh-CN", "en"];
export const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, "zh-CN": zhCN };
export type { MessageKey };

const STORAGE_KEY = "roomy.lang";

/** The stored choice, else the first browser language we speak, else English. */
export function detectLang(stored: string | null, browser: readonly string[]): Lang {
  if (stored === "en" || stored === "zh-CN") return stored;
  for (const l of browser) {
    const low = l.toLowerCase();
    if (low.startsWith("zh")) return "zh-CN";
    if (low.startsWith("en")) return "en";
  }
  return "en";
}

function initialLang(): Lang {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage may be unavailable (private mode, tests): fall back to the browser.
  }
  const browser = typeof navigator !== "undefined" ? navigator.languages ?? [navigator.language] : [];
  return detectLang(stored, browser);
}

let current: Lang = typeof window === "undefined" ? "en" : initialLang();
const listeners = new Set<() => void>();

export function getLang(): Lang {
  return current;
}

export function setLang(lang: Lang): void {
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Not remembered, still switched.
  }
  applyDocumentLang();
  listeners.forEach((f) => f());
}

export function onLangChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function applyDocumentLang(): void {
  if (typeof document !== "undefined") document.documentElement.lang = current;
}

export type Vars = Record<string, string | number>;

export function format(template: string, vars?: Vars): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in vars ? String(vars[k]) : m));
}

export function translate(lang: Lang, key: MessageKey, vars?: Vars): string {
  const n = vars?.n;
  return format(dictionaries[lang][key], typeof n === "number" ? { ...vars, n: formatNumber(lang, n) } : vars);
}

export function t(key: MessageKey, vars?: Vars): string {
  return translate(current, key, vars);
}

type PluralBase = {
  [K in MessageKey]: K extends `${infer B}.one` ? (`${B}.other` extends MessageKey ? B : never) : never;
}[MessageKey];

/** A counted phrase: picks `<base>.one` or `<base>.other` by the language's plural rules. */
export function tn(base: PluralBase, n: number, vars?: Vars): string {
  const rule = new Intl.PluralRules(current).select(n);
  const key = (rule === "one" ? `${base}.one` : `${base}.other`) as MessageKey;
  return t(key, { ...vars, n });
}

export function formatNumber(lang: Lang, n: number): string {
  return new Intl.NumberFormat(lang).format(n);
}

export function formatTime(iso: string): string {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

export function formatDateTime(iso: string): string {
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

function dayStart(d: Date): number {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** "Today", "Yesterday", or the date: the separator between days in a chat. */
export function formatDay(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  const diff = Math.round((dayStart(now) - dayStart(d)) / 86_400_000);
  if (diff === 0) return t("chat.today");
  if (diff === 1) return t("chat.yesterday");
  const sameYear = d.getFullYear() === now.getFullYear();
  return new Intl.DateTimeFormat(current, sameYear ? { month: "long", day: "numeric", weekday: "short" } : { dateStyle: "long" }).format(d);
}

/** A short stamp for the conversation list: the time today, else the date. */
export function formatShort(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (dayStart(d) === dayStart(now)) return formatTime(iso);
  const diff = Math.round((dayStart(now) - dayStart(d)) / 86_400_000);
  if (diff === 1) return t("chat.yesterday");
  return new Intl.DateTimeFormat(current, { month: "numeric", day: "numeric" }).format(d);
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${new Intl.NumberFormat(current, { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v)} ${units[i]}`;
}
