/**
 * The chat view renders a bounded window of a room's messages so a room of
 * 10,000 messages keeps a small DOM. The window is named by the key of its
 * first message (stable when older messages are prepended) or `null` when
 * it follows the newest messages.
 */
export type WindowAnchor = string | null;

export const WINDOW_SIZE = 150;
export const WINDOW_STEP = 50;

export function windowRange(keys: readonly string[], anchor: WindowAnchor, size = WINDOW_SIZE): [number, number] {
  const n = keys.length;
  if (anchor === null) return [Math.max(0, n - size), n];
  const i = keys.indexOf(anchor);
  if (i < 0) return [Math.max(0, n - size), n];
  const start = Math.min(i, Math.max(0, n - size));
  return [start, Math.min(n, start + size)];
}

/** Moves the window towards older messages; `atStart` says whether it already shows the oldest held. */
export function shiftOlder(keys: readonly string[], anchor: WindowAnchor, step = WINDOW_STEP, size = WINDOW_SIZE): { anchor: WindowAnchor; atStart: boolean } {
  const [start] = windowRange(keys, anchor, size);
  if (start === 0) return { anchor: keys.length > size ? keys[0]! : anchor, atStart: true };
  const next = Math.max(0, start - step);
  return { anchor: keys[next]!, atStart: false };
}

/** Moves the window towards newer messages; it follows the newest again once it reaches them. */
export function shiftNewer(keys: readonly string[], anchor: WindowAnchor, step = WINDOW_STEP, size = WINDOW_SIZE): WindowAnchor {
  if (anchor === null) return null;
  const [start, end] = windowRange(keys, anchor, size);
  if (end >= keys.length) return null;
  const next = start + step;
  if (next + size >= keys.length) return null;
  return keys[next]!;
}
