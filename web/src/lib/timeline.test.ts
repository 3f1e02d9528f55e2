import { describe, expect, it } from "vitest";
import type { MessageView } from "../api/wire";
import { applyRevocationNotices, applySyncEvents, appendMessage, mergeMessages, reconcileOutbox, type OutboxItem } from "./timeline";

const msg = (id: number, seq: number, extra: Partial<MessageView> = {}): MessageView => ({
  id,
  room_id: 1,
  seq,
  sender: { id: 7, nickname: "a", avatar: null },
  client_id: `c${id}`,
  kind: "text",
  body: `m${seq}`,
  created_at: "2026-01-01T00:00:00Z",
  revoked: false,
  ...extra,
});

const pending = (client_id: string): OutboxItem => ({ client_id, room_id: 1, kind: "text", body: "x", file_id: null, created_at: "", status: "pending" });

describe("merging messages", () => {
  it("orders by seq and keeps one copy per id", () => {
    const a = [msg(10, 1), msg(12, 3)];
    const out = mergeMessages(a, [msg(11, 2), msg(12, 3, { body: "new" })]);
    expect(out.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(out[2]!.body).toBe("new");
  });

  it("appends in order and tolerates a repeat", () => {
    let l: MessageView[] = [];
    l = appendMessage(l, msg(1, 1));
    l = appendMessage(l, msg(2, 2));
    l = appendMessage(l, msg(2, 2));
    l = appendMessage(l, msg(3, 3));
    expect(l.map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it("an ack racing a sync shows the message once", () => {
    let l = appendMessage([], msg(5, 5));
    l = applySyncEvents(l, [msg(4, 4), msg(5, 5)], false).messages;
    expect(l.map((m) => m.seq)).toEqual([4, 5]);
  });

  it("a limited sync drops the part it no longer joins, keeping live messages", () => {
    const held = [msg(1, 1), msg(2, 2), msg(90, 90)];
    const { messages, cut } = applySyncEvents(held, [msg(40, 40), msg(41, 41)], true);
    expect(cut).toBe(true);
    expect(messages.map((m) => m.seq)).toEqual([40, 41, 90]);
  });

  it("applies revocation notices from sync", () => {
    const l = [msg(1, 1), msg(2, 2, { kind: "image", file: { id: 3, name: "a.png", size: 1, mime: "image/png", url: "/f", thumbnail_url: null, cover_url: null } })];
    const out = applyRevocationNotices(l, [msg(3, 3, { kind: "system", event: "revoked", ref_id: 2 })]);
    expect(out[1]!.revoked).toBe(true);
    expect(out[1]!.body).toBeNull();
    expect(out[1]!.file).toBeUndefined();
    expect(out[0]!.revoked).toBe(false);
  });
});

describe("outbox", () => {
  it("drops entries the server confirmed, by client id and sender", () => {
    const box = [pending("c1"), pending("c2"), pending("c3")];
    const out = reconcileOutbox(box, [msg(1, 1), msg(3, 2, { sender: { id: 8, nickname: "b", avatar: null } })], 7);
    expect(out.map((o) => o.client_id)).toEqual(["c2", "c3"]);
  });

  it("keeps everything when nothing matches", () => {
    const box = [pending("x")];
    expect(reconcileOutbox(box, [msg(1, 1)], 7)).toEqual(box);
  });
});
