import type { ClientFrame, MessageView, ServerFrame } from "../api/wire";
import { ApiError, post } from "../api/http";
import { endSession, getToken, getUser, renewToken, SESSION_END_CODES, setUser } from "../api/session";
import { t } from "../i18n";
import { codeText, wrongType } from "../ui/errors";
import type { OutboxItem } from "../lib/timeline";
import { refreshMediaToken, resetMediaToken } from "./media";
import { store, markReadHttp } from "./store";
import type { MediaKind } from "./uploads";

// Frame ids name what they answer: `s:<client_id>` for sends, `sync:<n>`...
const SEND_PREFIX = "s:";

/** Backoff with jitter: 0.5 s doubling to 15 s, each delay drawn from its upper half. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const cap = Math.min(15_000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** How often a send refused for a passing reason (rate limit, unavailable) is retried by itself. */
const MAX_SEND_RETRIES = 5;

class Gateway {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private frameSeq = 0;
  private running = false;
  private wasOnline = false;
  /** Ready and caught up: new sends go straight out. */
  private synced = false;
  private readySince = 0;
  private lastError: string | null = null;
  /** Client ids sent on the current connection and not yet answered. */
  private inflight = new Set<string>();
  private position: number | null = null;
  private syncId: string | null = null;
  private lastTypingSent = new Map<number, number>();
  private sentRead = new Map<number, number>();
  /** Retries of sends the server refused for a passing reason, by client id. */
  private sendRetries = new Map<string, number>();

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wasOnline = false;
    this.attempt = 0;
    const u = getUser();
    store.me = u;
    store.loadOutbox();
    this.position = loadPosition();
    window.addEventListener("online", this.onNetOnline);
    window.addEventListener("offline", this.onNetOffline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.setConn(navigator.onLine === false ? "offline" : "connecting");
    this.connect();
  }

  stop(): void {
    this.running = false;
    window.removeEventListener("online", this.onNetOnline);
    window.removeEventListener("offline", this.onNetOffline);
    document.removeEventListener("visibilitychange", this.onVisible);
    this.clearTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.synced = false;
    resetMediaToken();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.timer = null;
    this.pingTimer = null;
  }

  private setConn(s: typeof store.conn): void {
    if (store.conn !== s) {
      store.conn = s;
      store.changed();
    }
  }

  private onNetOnline = () => {
    if (!this.running) return;
    this.attempt = 0;
    if (!this.ws) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.connect();
    }
  };

  private onNetOffline = () => {
    if (!this.running) return;
    this.setConn("offline");
    // The socket may linger half-open; drop it now and reconnect when back.
    this.ws?.close(4000);
  };

  private onVisible = () => {
    if (document.visibilityState === "visible" && this.running && !this.ws) this.onNetOnline();
  };

  private connect(): void {
    const token = getToken();
    if (!token || !this.running) return;
    if (navigator.onLine === false) {
      this.setConn("offline");
      return;
    }
    this.setConn(this.wasOnline ? "reconnecting" : "connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/ws?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    this.synced = false;
    this.inflight.clear();
    this.lastError = null;
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(e.data)) as ServerFrame;
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.synced = false;
      this.inflight.clear();
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (e.code === 4401) {
        const reason = this.lastError && SESSION_END_CODES.has(this.lastError) ? this.lastError : "session_ended";
        this.running = false;
        endSession(reason);
        return;
      }
      if (!this.running) return;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private scheduleReconnect(): void {
    if (navigator.onLine === false) {
      this.setConn("offline");
      return;
    }
    this.setConn(this.wasOnline ? "reconnecting" : "connecting");
    const delay = backoffDelay(this.attempt++);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private sendFrame(f: ClientFrame): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  private nextId(prefix: string): string {
    return `${prefix}${++this.frameSeq}`;
  }

  private startPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.lastHeard = Date.now();
    // A cut network can leave the socket open with nothing arriving: a
    // ping every 20 s that goes unanswered for 45 s means the link is dead.
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 45_000) {
        this.ws?.close(4000);
        return;
      }
      this.sendFrame({ type: "ping", id: this.nextId("p:") });
    }, 20_000);
  }

  private handle(f: ServerFrame): void {
    switch (f.type) {
      case "ready":
        void this.onReady(f.user, f.since, f.token);
        return;
      case "ack":
        if (typeof f.id === "string" && f.id.startsWith(SEND_PREFIX)) this.inflight.delete(f.id.slice(SEND_PREFIX.length));
        store.addMessage(f.message, true);
        this.advance(f.message.id);
        return;
      case "message":
        store.addMessage(f.message, true);
        this.advance(f.message.id);
        return;
      case "sync":
        if (f.id === this.syncId) this.onSync(f.rooms, f.notices, f.notices_limited, f.next);
        return;
      case "revoked":
        store.applyRevoked(f.room_id, f.message, f.notice);
        this.advance(f.notice.id);
        return;
      case "friend_request":
      case "friend_accepted":
      case "messages_deleted":
      case "favorite_changed":
      case "room_left":
        store.applyNotice(f, true, noticeText);
        if (f.type === "room_left") leftRoom(f.room_id);
        this.advance(f.position);
        return;
      case "read":
        store.applyRead(f.room_id, f.user_id, f.seq);
        if ("position" in f && typeof f.position === "number") this.advance(f.position);
        return;
      case "member_joined":
        store.upsertRoom(f.room);
        mergeMembers(f.room_id, f.members);
        store.changed();
        return;
      case "member_left": {
        store.upsertRoom(f.room);
        const r = store.rooms.get(f.room_id);
        r?.members?.delete(f.user_id);
        store.changed();
        return;
      }
      case "room_updated":
        store.upsertRoom(f.room);
        mergeMembers(f.room.id, f.members);
        store.changed();
        return;
      case "presence":
        if (f.online) store.online.add(f.user_id);
        else store.online.delete(f.user_id);
        store.changed();
        return;
      case "typing":
        store.typing(f.room_id, f.user_id);
        return;
      case "file_updated":
        store.updateFile(f.file);
        return;
      case "resync":
        // The server closes next; onclose reconnects and the sync catches up.
        this.synced = false;
        return;
      case "error":
        this.onError(f.id, f.error.code, f.error.message);
        return;
      case "pong":
        return;
    }
  }

  private async onReady(user: import("../api/wire").Me, since: number, token: string | null): Promise<void> {
    if (token) renewToken(token);
    setUser(user);
    store.me = user;
    this.attempt = 0;
    this.wasOnline = true;
    this.readySince = since;
    this.startPing();
    void refreshMediaToken();
    // A position past the server's stream is from another server (a reset data directory).
    if (this.position !== null && since < this.position) this.position = null;
    const first = this.position === null;
    void Promise.all([store.loadIncoming(), store.loadFriends(), store.loadFavorites()]).catch(() => undefined);
    try {
      // The room list first, so the catch-up lands in rooms we know.
      if (first || !store.roomsLoaded) await store.loadRooms();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
    }
    if (first) {
      // A fresh session: the room list is the state; live delivery starts at `since`.
      this.setPosition(since);
      this.caughtUp();
    } else {
      this.syncId = this.nextId("sync:");
      this.sendFrame({ type: "sync", id: this.syncId, since: this.position, limit: 50 });
    }
    void this.loadPresence();
  }

  private onSync(rooms: Record<string, import("../api/wire").SyncRoomView>, notices: import("../api/wire").NoticeView[], limited: boolean, next: number): void {
    const unknown = store.applySyncRooms(rooms);
    for (const n of notices) {
      store.applyNotice(n, false, noticeText);
      if (n.type === "room_left") leftRoom(n.room_id);
    }
    for (const id of unknown) void store.refreshRoom(id);
    if (limited) {
      void store.loadIncoming().catch(() => undefined);
      void store.loadRooms().catch(() => undefined);
    }
    this.setPosition(Math.max(next, this.readySince));
    this.caughtUp();
    // Unread counts and room views as the server has them now.
    void store.loadRooms().catch(() => undefined);
  }

  private caughtUp(): void {
    this.synced = true;
    // Marks sent before a cut may have been lost with the connection.
    this.sentRead.clear();
    this.setConn("online");
    this.flushOutbox();
  }

  private advance(pos: number): void {
    // Positions from live frames count only once the catch-up is applied,
    // so a crash in between cannot skip what sync was about to return.
    if (this.synced && (this.position === null || pos > this.position)) this.setPosition(pos);
  }

  private setPosition(pos: number): void {
    this.position = pos;
    savePosition(pos);
  }

  private onError(id: string | number | null, code: string, message: string): void {
    if (SESSION_END_CODES.has(code)) {
      this.lastError = code;
      return;
    }
    if (typeof id !== "string") return;
    if (id.startsWith(SEND_PREFIX)) {
      const cid = id.slice(SEND_PREFIX.length);
      this.inflight.delete(cid);
      const item = store.outbox.find((o) => o.client_id === cid);
      if (!item) return;
      const tries = (this.sendRetries.get(cid) ?? 0) + 1;
      // Passing refusals are retried (same client_id: stored once), backing
      // off, a few times; then the message shows as failed, to resend by hand.
      if ((code === "rate_limited" || code === "unavailable" || code === "internal") && tries <= MAX_SEND_RETRIES) {
        this.sendRetries.set(cid, tries);
        setTimeout(() => this.sendOne(item), backoffDelay(tries + 1));
        return;
      }
      this.sendRetries.delete(cid);
      item.status = "failed";
      // A media send is refused as a validation failure when the bytes are
      // not the kind the message claims (the server sniffs them).
      const media = item.kind === "image" || item.kind === "video" || item.kind === "file";
      item.error = media && code === "validation_failed" ? wrongType(item.kind as MediaKind) : codeText(code, message);
      store.saveOutbox();
      store.changed();
    } else if (id === this.syncId && code === "rate_limited") {
      setTimeout(() => {
        this.syncId = this.nextId("sync:");
        this.sendFrame({ type: "sync", id: this.syncId, since: this.position, limit: 50 });
      }, 3000);
    }
  }

  private async loadPresence(): Promise<void> {
    // Presence is known from member lists; direct rooms feed the list's dots.
    const direct = store.sortedRooms().filter((r) => r.view.kind === "direct").slice(0, 40);
    for (const r of direct) {
      try {
        await store.loadMembers(r.view.id);
      } catch {
        return;
      }
    }
    const open = store.viewing?.roomId;
    if (open !== undefined && store.rooms.get(open)?.view.kind === "group") void store.loadMembers(open).catch(() => undefined);
  }

  // Outgoing.

  send(roomId: number, kind: string, body: string | null, fileId: number | null = null, file?: OutboxItem["file"]): void {
    const item: OutboxItem = {
      client_id: crypto.randomUUID(),
      room_id: roomId,
      kind,
      body,
      file_id: fileId,
      created_at: new Date().toISOString(),
      status: "pending",
      file,
    };
    store.outbox = [...store.outbox, item];
    store.saveOutbox();
    // The message ends this bout of typing: the next keystroke may announce
    // a new one as soon as the server's 2-second window allows.
    const last = this.lastTypingSent.get(roomId);
    if (last !== undefined) this.lastTypingSent.set(roomId, last - 1000);
    store.changed();
    if (this.synced) this.sendOne(item);
  }

  retry(clientId: string): void {
    const item = store.outbox.find((o) => o.client_id === clientId);
    if (!item) return;
    item.status = "pending";
    item.error = undefined;
    store.saveOutbox();
    store.changed();
    if (this.synced) this.sendOne(item);
  }

  discard(clientId: string): void {
    store.outbox = store.outbox.filter((o) => o.client_id !== clientId);
    store.saveOutbox();
    store.changed();
  }

  private sendOne(item: OutboxItem): void {
    if (item.status !== "pending" || this.inflight.has(item.client_id)) return;
    if (!store.outbox.includes(item)) return;
    const ok = this.sendFrame({
      type: "send",
      id: SEND_PREFIX + item.client_id,
      room_id: item.room_id,
      client_id: item.client_id,
      kind: item.kind,
      body: item.body,
      file_id: item.file_id,
    });
    if (ok) this.inflight.add(item.client_id);
  }

  /** After every (re)connection: resend everything not acked, with the same client ids, in order. */
  private flushOutbox(): void {
    for (const item of store.outbox) if (item.status === "pending") this.sendOne(item);
  }

  typing(roomId: number): void {
    const now = Date.now();
    if (now - (this.lastTypingSent.get(roomId) ?? 0) < 3000) return;
    this.lastTypingSent.set(roomId, now);
    this.sendFrame({ type: "typing", id: this.nextId("t:"), room_id: roomId });
  }

  /** Marks a room read up to `seq` (once per position), over the socket or HTTP. */
  markRead(roomId: number, seq: number): void {
    const r = store.rooms.get(roomId);
    if (!r || seq <= 0) return;
    if (seq <= (r.view.read_seq ?? 0) && !r.view.unread) return;
    if ((this.sentRead.get(roomId) ?? 0) >= seq) return;
    this.sentRead.set(roomId, seq);
    store.applyRead(roomId, store.me?.id ?? -1, seq);
    if (!this.sendFrame({ type: "read", id: this.nextId("r:"), room_id: roomId, seq })) {
      void markReadHttp(roomId, seq).catch(() => this.sentRead.delete(roomId));
    }
  }
}

function mergeMembers(roomId: number, members: import("../api/wire").MemberView[]): void {
  const r = store.rooms.get(roomId);
  if (!r || !r.members) return;
  for (const m of members) r.members.set(m.user.id, { ...r.members.get(m.user.id), ...m });
}

function noticeText(key: "request" | "accepted" | "agreed", name: string): string {
  return t(`friends.notice.${key}`, { name });
}

let onLeftRoom: (id: number) => void = () => undefined;
export function setOnLeftRoom(f: (id: number) => void): void {
  onLeftRoom = f;
}
function leftRoom(id: number): void {
  onLeftRoom(id);
}

function positionKey(): string | null {
  const u = getUser();
  return u ? `roomy.pos.${u.id}` : null;
}

function loadPosition(): number | null {
  const k = positionKey();
  if (!k) return null;
  const v = Number(localStorage.getItem(k));
  return Number.isFinite(v) && v > 0 ? v : null;
}

function savePosition(pos: number): void {
  const k = positionKey();
  if (!k) return;
  try {
    localStorage.setItem(k, String(pos));
  } catch {
    // Then the next page load starts from the room list.
  }
}

export const gateway = new Gateway();

export type { MessageView };

/** Revocation, deletion and favorites are HTTP calls; their effects come back as frames too. */
export async function revokeMessage(id: number): Promise<void> {
  await post(`/messages/${id}/revoke`);
}
