import type { MessageView } from "../api/wire";

/**
 * Merges messages into a room's list: one entry per id (a later copy wins,
 * so a revocation replaces the original), ordered by seq.
 */
export function mergeMessages(list: readonly MessageView[], incoming: readonly MessageView[]): MessageView[] {
  if (incoming.length === 0) return list as MessageView[];
  const byId = new Map<number, MessageView>();
  for (const m of list) byId.set(m.id, m);
  for (const m of incoming) byId.set(m.id, m);
  const out = [...byId.values()];
  out.sort((a, b) => a.seq - b.seq);
  return out;
}

/** Appends one live message, the common case, without re-sorting everything. */
export function appendMessage(list: MessageView[], m: MessageView): MessageView[] {
  const last = list[list.length - 1];
  if (!last || last.seq < m.seq) return [...list, m];
  return mergeMessages(list, [m]);
}

/**
 * Applies a sync's events for a room. When the server says it left some out
 * (`limited`), what we hold is no longer contiguous with the new events, so
 * the older part is dropped and will be paged in again from the server.
 */
export function applySyncEvents(list: readonly MessageView[], events: readonly MessageView[], limited: boolean): { messages: MessageView[]; cut: boolean } {
  if (events.length === 0) return { messages: list as MessageView[], cut: false };
  if (!limited) return { messages: mergeMessages(list, events), cut: false };
  const first = events[0]!.seq;
  return { messages: mergeMessages(list.filter((m) => m.seq >= first), events), cut: true };
}

/** Marks the messages a `revoked`/`removed` notice is about, as the live frame would. */
export function applyRevocationNotices(list: readonly MessageView[], notices: readonly MessageView[]): MessageView[] {
  const refs = new Set<number>();
  for (const n of notices) if (n.kind === "system" && (n.event === "revoked" || n.event === "removed") && n.ref_id !== undefined) refs.add(n.ref_id);
  if (refs.size === 0) return list as MessageView[];
  return list.map((m) => (refs.has(m.id) && !m.revoked ? revokedCopy(m) : m));
}

export function revokedCopy(m: MessageView): MessageView {
  const { file: _file, ...rest } = m;
  return { ...rest, revoked: true, body: null };
}

export type OutboxStatus = "pending" | "failed";

/** A message of mine not yet acknowledged: shown at once, resent with the same client_id until acked. */
export interface OutboxItem {
  client_id: string;
  room_id: number;
  kind: string;
  body: string | null;
  file_id: number | null;
  created_at: string;
  status: OutboxStatus;
  error?: string;
  /** Shown while pending: name, size and type of an attached upload. */
  file?: { name: string; size: number; mime: string };
}

/**
 * Drops outbox entries whose message the server has confirmed (by ack, by
 * a live frame, by sync or by history), so a retried send never shows twice.
 */
export function reconcileOutbox(outbox: readonly OutboxItem[], confirmed: readonly MessageView[], myId: number): OutboxItem[] {
  const ids = new Set<string>();
  for (const m of confirmed) if (m.client_id && m.sender.id === myId) ids.add(m.client_id);
  if (ids.size === 0) return outbox as OutboxItem[];
  return outbox.filter((o) => !ids.has(o.client_id));
}
