import type {
  FavoriteView,
  FriendRequestView,
  FriendView,
  Me,
  MemberView,
  MessageView,
  NoticeView,
  Page,
  RoomView,
  SyncRoomView,
} from "../api/wire";
import { get, post, query } from "../api/http";
import { getUser } from "../api/session";
import { applyRevocationNotices, applySyncEvents, appendMessage, mergeMessages, reconcileOutbox, revokedCopy, type OutboxItem } from "../lib/timeline";
import { Signal } from "./reactive";

export type ConnState = "connecting" | "online" | "reconnecting" | "offline";

export interface RoomState {
  view: RoomView;
  /** Ascending seq; contiguous (apart from messages deleted for me). */
  messages: MessageView[];
  /** The server holds messages older than `messages[0]`. */
  hasOlder: boolean;
  /** The newest page has been fetched, so `messages` reaches the room's end. */
  loaded: boolean;
  loadingOlder: boolean;
  members: Map<number, MemberView> | null;
  /** user id → when their typing indicator expires (ms). */
  typing: Map<number, number>;
}

export interface Toast {
  id: number;
  text: string;
  href?: string;
}

let toastSeq = 0;

export class Store {
  readonly signal = new Signal();
  me: Me | null = null;
  rooms = new Map<number, RoomState>();
  roomsLoaded = false;
  online = new Set<number>();
  conn: ConnState = "connecting";
  outbox: OutboxItem[] = [];
  incoming: FriendRequestView[] = [];
  incomingLoaded = false;
  friends: FriendView[] = [];
  friendsLoaded = false;
  favorites = new Set<number>();
  /** Bumped when a favorite change from the server alters `favorites` (news from another device): an open favorites page refetches. */
  favoritesRevision = 0;
  /** Favorite changes applied while a favorites load is in flight, replayed over its (older) answer. */
  private favoriteEdits = new Map<number, boolean>();
  private favoriteLoads = 0;
  toasts: Toast[] = [];
  /** The room on screen, and whether its newest message is in view: messages there are read at once. */
  viewing: { roomId: number; atBottom: boolean } | null = null;

  changed(): void {
    this.signal.notify();
  }

  reset(): void {
    this.me = null;
    this.rooms = new Map();
    this.roomsLoaded = false;
    this.online = new Set();
    this.conn = "connecting";
    this.outbox = [];
    this.incoming = [];
    this.incomingLoaded = false;
    this.friends = [];
    this.friendsLoaded = false;
    this.favorites = new Set();
    this.favoritesRevision = 0;
    this.favoriteEdits = new Map();
    this.favoriteLoads = 0;
    this.toasts = [];
    this.viewing = null;
    this.changed();
  }

  // Outbox persistence: a send made offline survives a reload and is retried.
  private outboxKey(): string | null {
    const u = this.me ?? getUser();
    return u ? `roomy.outbox.${u.id}` : null;
  }

  loadOutbox(): void {
    const k = this.outboxKey();
    if (!k) return;
    try {
      this.outbox = JSON.parse(localStorage.getItem(k) ?? "[]") as OutboxItem[];
    } catch {
      this.outbox = [];
    }
  }

  saveOutbox(): void {
    const k = this.outboxKey();
    if (!k) return;
    try {
      if (this.outbox.length) localStorage.setItem(k, JSON.stringify(this.outbox));
      else localStorage.removeItem(k);
    } catch {
      // The outbox then lives in memory only.
    }
  }

  toast(text: string, href?: string): void {
    const t: Toast = { id: ++toastSeq, text, href };
    this.toasts = [...this.toasts, t].slice(-4);
    this.changed();
    setTimeout(() => this.dismissToast(t.id), 6000);
  }

  dismissToast(id: number): void {
    const before = this.toasts.length;
    this.toasts = this.toasts.filter((t) => t.id !== id);
    if (this.toasts.length !== before) this.changed();
  }

  // Rooms.

  private newRoom(view: RoomView): RoomState {
    return { view, messages: [], hasOlder: view.last_seq > 0, loaded: view.last_seq === 0, loadingOlder: false, members: null, typing: new Map() };
  }

  upsertRoom(view: RoomView): RoomState {
    const r = this.rooms.get(view.id);
    if (!r) {
      const s = this.newRoom(view);
      this.rooms.set(view.id, s);
      // Frames describe the room as everyone sees it; my view names the peer and counts my unread.
      if (view.kind === "direct" && !view.peer) void this.refreshRoom(view.id);
      return s;
    }
    // Frames carry the room as everyone sees it: keep my own fields when absent.
    r.view = {
      ...r.view,
      ...view,
      read_seq: view.read_seq ?? r.view.read_seq,
      unread: view.unread ?? r.view.unread,
      peer_read_seq: view.peer_read_seq ?? r.view.peer_read_seq,
      last_message: view.last_message ?? r.view.last_message,
      my_role: view.my_role ?? r.view.my_role,
      peer: view.peer ?? r.view.peer,
    };
    return r;
  }

  async loadRooms(): Promise<void> {
    const seen = new Set<number>();
    let cursor: string | null = null;
    do {
      const page: Page<RoomView> = await get(`/rooms${query({ limit: 200, cursor })}`);
      for (const v of page.items) {
        seen.add(v.id);
        const r = this.rooms.get(v.id);
        if (r) {
          // A message delivered live while this page was on its way is
          // newer than the page: keep it (and its count) rather than roll back.
          const newer = r.view.last_seq > v.last_seq;
          r.view = newer ? { ...v, last_seq: r.view.last_seq, last_message: r.view.last_message, unread: r.view.unread } : v;
          if (v.last_message && !newer) {
            r.messages = mergeOrReset(r, v.last_message);
            // A send whose ack the reconnect lost is confirmed by this copy.
            this.dropFromOutbox([v.last_message]);
          }
        } else this.upsertRoom(v);
      }
      cursor = page.next_cursor;
    } while (cursor);
    for (const id of [...this.rooms.keys()]) if (!seen.has(id)) this.rooms.delete(id);
    this.roomsLoaded = true;
    this.changed();
  }

  async refreshRoom(id: number): Promise<void> {
    try {
      const v = await get<RoomView>(`/rooms/${id}`);
      this.upsertRoom(v).view = v;
      this.changed();
    } catch {
      // The next event or reconnect brings it up to date.
    }
  }

  sortedRooms(): RoomState[] {
    return [...this.rooms.values()].sort((a, b) => activity(b) - activity(a) || b.view.id - a.view.id);
  }

  roomName(r: RoomState): string {
    const v = r.view;
    if (v.kind === "direct" && v.peer) {
      const f = this.friends.find((x) => x.user.id === v.peer!.id);
      return f?.remark || v.peer.nickname;
    }
    return v.name ?? "";
  }

  peerId(r: RoomState): number | null {
    return r.view.kind === "direct" && r.view.peer ? r.view.peer.id : null;
  }

  /** A member's name in this room: group nickname, else friend remark, else nickname. */
  displayName(r: RoomState | undefined, user: { id: number; nickname: string }): string {
    const m = r?.members?.get(user.id);
    if (m?.group_nickname) return m.group_nickname;
    const f = this.friends.find((x) => x.user.id === user.id);
    return f?.remark || m?.user.nickname || user.nickname;
  }

  async loadMembers(roomId: number): Promise<void> {
    const r = this.rooms.get(roomId);
    if (!r) return;
    const members = new Map<number, MemberView>();
    let cursor: string | null = null;
    do {
      const page: Page<MemberView> = await get(`/rooms/${roomId}/members${query({ limit: 200, cursor })}`);
      for (const m of page.items) {
        members.set(m.user.id, m);
        if (m.user.id !== this.me?.id) {
          if (m.online) this.online.add(m.user.id);
          else this.online.delete(m.user.id);
        }
      }
      cursor = page.next_cursor;
    } while (cursor);
    r.members = members;
    this.changed();
  }

  // Messages.

  /** A message from the server, live or fetched: placed, de-duplicated, and reflected in the room. */
  addMessage(m: MessageView, live: boolean): void {
    let r = this.rooms.get(m.room_id);
    if (!r) {
      // A room we did not know (added to a group): fetch its view.
      void this.refreshRoom(m.room_id);
      return;
    }
    const known = r.messages.some((x) => x.id === m.id);
    r.messages = appendMessage(r.messages, m);
    if (m.kind === "system" && (m.event === "revoked" || m.event === "removed")) r.messages = applyRevocationNotices(r.messages, [m]);
    this.noteLast(r, m);
    const mine = m.sender.id === this.me?.id;
    if (mine) this.dropFromOutbox([m]);
    if (live && !known) {
      r.typing.delete(m.sender.id);
      // Counted as the server counts (others' live messages, notices
      // included), so a reload never changes the badge.
      if (!mine) {
        if (this.viewing?.roomId === m.room_id && this.viewing.atBottom && document.visibilityState === "visible") {
          // Seen as it arrives; the chat view sends the read mark.
        } else if (m.seq > (r.view.read_seq ?? 0)) r.view.unread = (r.view.unread ?? 0) + 1;
      }
    }
    this.changed();
  }

  private noteLast(r: RoomState, m: MessageView): void {
    if (m.seq >= r.view.last_seq) {
      r.view.last_seq = m.seq;
      r.view.last_message = m;
    } else if (r.view.last_message?.id === m.id) r.view.last_message = m;
  }

  dropFromOutbox(ms: MessageView[]): void {
    if (!this.me) return;
    const next = reconcileOutbox(this.outbox, ms, this.me.id);
    if (next.length !== this.outbox.length) {
      this.outbox = next;
      this.saveOutbox();
    }
  }

  applySyncRooms(rooms: Record<string, SyncRoomView>): number[] {
    const unknown: number[] = [];
    for (const [key, s] of Object.entries(rooms)) {
      const id = Number(key);
      const r = this.rooms.get(id);
      if (!r) {
        unknown.push(id);
        continue;
      }
      const { messages, cut } = applySyncEvents(r.messages, s.events, s.limited);
      r.messages = applyRevocationNotices(messages, s.events);
      if (cut) r.hasOlder = true;
      if (!r.loaded && r.messages.length === 0) r.loaded = false;
      for (const m of s.events) this.noteLast(r, m);
      this.dropFromOutbox(s.events);
    }
    this.changed();
    return unknown;
  }

  applyRevoked(roomId: number, message: MessageView, notice: MessageView): void {
    const r = this.rooms.get(roomId);
    if (!r) return;
    const revoked = message.revoked ? message : revokedCopy(message);
    r.messages = mergeMessages(r.messages, [revoked, notice]);
    if (r.view.last_message?.id === revoked.id) r.view.last_message = revoked;
    this.noteLast(r, notice);
    this.changed();
  }

  removeMessages(ids: readonly number[]): void {
    const set = new Set(ids);
    for (const r of this.rooms.values()) {
      const before = r.messages.length;
      r.messages = r.messages.filter((m) => !set.has(m.id));
      if (r.view.last_message && set.has(r.view.last_message.id)) {
        r.view.last_message = r.messages[r.messages.length - 1];
        void this.refreshRoom(r.view.id);
      } else if (before !== r.messages.length) {
        // The unread count may include them.
        void this.refreshRoom(r.view.id);
      }
    }
    for (const id of ids) {
      this.favorites.delete(id);
      if (this.favoriteLoads > 0) this.favoriteEdits.set(id, false);
    }
    this.changed();
  }

  updateFile(file: NonNullable<MessageView["file"]>): void {
    for (const r of this.rooms.values()) {
      let touched = false;
      const next = r.messages.map((m) => {
        if (m.file?.id !== file.id) return m;
        touched = true;
        return { ...m, file };
      });
      if (touched) r.messages = next;
      if (r.view.last_message?.file?.id === file.id) r.view.last_message = { ...r.view.last_message, file };
    }
    this.changed();
  }

  applyRead(roomId: number, userId: number, seq: number): void {
    const r = this.rooms.get(roomId);
    if (!r) return;
    if (userId === this.me?.id) {
      if (seq > (r.view.read_seq ?? 0)) r.view.read_seq = seq;
      const newest = Math.max(r.view.last_seq, r.messages[r.messages.length - 1]?.seq ?? 0);
      if ((r.view.read_seq ?? 0) >= newest) r.view.unread = 0;
      // Counted here only when what is held reaches back to the read position.
      else if (!r.hasOlder || (r.messages[0] && r.messages[0].seq <= (r.view.read_seq ?? 0) + 1)) r.view.unread = countUnread(r, this.me.id);
      else void this.refreshRoom(roomId);
    } else {
      if (seq > (r.view.peer_read_seq ?? 0)) r.view.peer_read_seq = seq;
      const m = r.members?.get(userId);
      if (m && seq > (m.read_seq ?? 0)) r.members!.set(userId, { ...m, read_seq: seq });
    }
    this.changed();
  }

  typing(roomId: number, userId: number): void {
    const r = this.rooms.get(roomId);
    if (!r || userId === this.me?.id) return;
    r.typing.set(userId, Date.now() + 5000);
    this.changed();
    setTimeout(() => {
      const until = r.typing.get(userId);
      if (until !== undefined && until <= Date.now()) {
        r.typing.delete(userId);
        this.changed();
      }
    }, 5100);
  }

  // Friends.

  async loadIncoming(): Promise<void> {
    const page = await get<Page<FriendRequestView>>(`/friend-requests${query({ direction: "incoming", status: "pending", limit: 200 })}`);
    this.incoming = page.items;
    this.incomingLoaded = true;
    this.changed();
  }

  async loadFriends(): Promise<void> {
    const all: FriendView[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<FriendView> = await get(`/friends${query({ limit: 200, cursor })}`);
      all.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    this.friends = all;
    this.friendsLoaded = true;
    this.changed();
  }

  async loadFavorites(): Promise<FavoriteView[]> {
    this.favoriteLoads++;
    try {
      const page = await get<Page<FavoriteView>>(`/me/favorites${query({ limit: 200 })}`);
      const ids = new Set(page.items.map((f) => f.message.id));
      // A change that arrived during the request may be missing from its answer.
      for (const [id, on] of this.favoriteEdits) {
        if (on) ids.add(id);
        else ids.delete(id);
      }
      this.favorites = ids;
      this.changed();
      return page.items;
    } finally {
      if (--this.favoriteLoads === 0) this.favoriteEdits.clear();
    }
  }

  /** A favorite change from the server (this device's own or another's), in position order. */
  applyFavorite(messageId: number, favorite: boolean): void {
    if (this.favoriteLoads > 0) this.favoriteEdits.set(messageId, favorite);
    if (this.favorites.has(messageId) === favorite) return;
    if (favorite) this.favorites.add(messageId);
    else this.favorites.delete(messageId);
    this.favoritesRevision++;
    this.changed();
  }

  /** A per-user event (live or from sync's notices). Returns whether friend lists changed. */
  applyNotice(n: NoticeView, live: boolean, t: (key: "request" | "accepted" | "agreed", name: string) => string): void {
    const me = this.me?.id;
    switch (n.type) {
      case "friend_request": {
        const req = n.request;
        if (req.to.id === me) {
          if (req.status === "pending") {
            if (!this.incoming.some((x) => x.id === req.id)) this.incoming = [req, ...this.incoming];
            if (live) this.toast(t("request", req.from.nickname), "/friends");
          } else if (req.status === "agree") {
            if (live) this.toast(t("agreed", req.from.nickname), "/friends");
            void this.loadFriends().catch(() => undefined);
          }
        }
        break;
      }
      case "friend_accepted": {
        const req = n.request;
        this.incoming = this.incoming.filter((x) => x.id !== req.id);
        if (live && req.from.id === me) this.toast(t("accepted", req.to.nickname), `/rooms/${n.room_id}`);
        void this.loadFriends().catch(() => undefined);
        if (!this.rooms.has(n.room_id)) void this.refreshRoom(n.room_id);
        break;
      }
      case "read":
        this.applyRead(n.room_id, n.user_id, n.seq);
        break;
      case "messages_deleted":
        this.removeMessages(n.message_ids);
        break;
      case "favorite_changed":
        this.applyFavorite(n.message_id, n.favorite);
        break;
      case "room_left":
        this.rooms.delete(n.room_id);
        break;
    }
    this.changed();
  }
}

function activity(r: RoomState): number {
  const iso = r.view.last_message?.created_at ?? r.view.created_at;
  return Date.parse(iso) || 0;
}

function countUnread(r: RoomState, me: number): number {
  const read = r.view.read_seq ?? 0;
  return r.messages.filter((m) => m.seq > read && m.sender.id !== me && !m.revoked).length;
}

/**
 * The room list's last message joins what we hold when it continues it.
 * After a gap the held part is stale: the open room fills the gap from the
 * server at once (its view must not lose what it shows); any other room
 * keeps only the newest and refetches when opened.
 */
function mergeOrReset(r: RoomState, last: MessageView): MessageView[] {
  const held = r.messages[r.messages.length - 1];
  if (!held || held.seq + 1 >= last.seq) return mergeMessages(r.messages, [last]);
  if (r.messages.some((m) => m.id === last.id)) return mergeMessages(r.messages, [last]);
  if (store.viewing?.roomId === r.view.id) {
    loadNewest(r.view.id, held.seq).catch(() => {
      // Could not fill the gap now: fall back to refetching on the next open.
      r.loaded = false;
      r.hasOlder = true;
      r.messages = mergeMessages([], [last]);
      store.changed();
    });
    return r.messages;
  }
  r.loaded = false;
  r.hasOlder = true;
  return [last];
}

export const store = new Store();

export function outboxFor(roomId: number): OutboxItem[] {
  return store.outbox.filter((o) => o.room_id === roomId);
}

export async function markReadHttp(roomId: number, seq: number): Promise<void> {
  await post(`/rooms/${roomId}/read`, { seq });
}

const PAGE = 50;

/**
 * The newest page of a room, merged with what is held. After a gap past
 * `gapAfter` (the newest seq held before it), a page that does not reach
 * back to it replaces the held part, keeping what arrived live since;
 * older pages then load on scroll as usual.
 */
export async function loadNewest(roomId: number, gapAfter?: number): Promise<void> {
  const r = store.rooms.get(roomId);
  if (!r) return;
  const page = await get<Page<MessageView>>(`/rooms/${roomId}/messages${query({ limit: PAGE })}`);
  const seqs = page.items.map((m) => m.seq);
  if (gapAfter !== undefined && seqs.length && Math.min(...seqs) > gapAfter + 1) {
    const newest = Math.max(...seqs);
    r.messages = r.messages.filter((m) => m.seq > newest);
  }
  const had = r.messages.length;
  r.messages = mergeMessages(r.messages, page.items);
  r.messages = applyRevocationNotices(r.messages, page.items);
  if (had === 0 || page.items.length === 0 || (r.messages[0] && page.items[0] && r.messages[0].seq >= page.items[0].seq)) r.hasOlder = page.next_cursor !== null;
  r.loaded = true;
  store.dropFromOutbox(page.items);
  store.changed();
}

/** The page before the oldest message held. */
export async function loadOlder(roomId: number): Promise<void> {
  const r = store.rooms.get(roomId);
  if (!r || r.loadingOlder || !r.hasOlder) return;
  const first = r.messages[0];
  if (!first) return loadNewest(roomId);
  r.loadingOlder = true;
  store.changed();
  try {
    const page = await get<Page<MessageView>>(`/rooms/${roomId}/messages${query({ before_seq: first.seq, limit: PAGE })}`);
    r.messages = mergeMessages(r.messages, page.items);
    r.messages = applyRevocationNotices(r.messages, page.items);
    r.hasOlder = page.next_cursor !== null && page.items.length > 0;
  } finally {
    r.loadingOlder = false;
    store.changed();
  }
}
