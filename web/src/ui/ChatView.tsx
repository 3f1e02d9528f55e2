import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { MessageView } from "../api/wire";
import { del, post, put } from "../api/http";
import { formatDay, t, tn } from "../i18n";
import { cleanText } from "../lib/text";
import type { OutboxItem } from "../lib/timeline";
import { shiftNewer, shiftOlder, windowRange, type WindowAnchor } from "../lib/window";
import { navigate } from "../router";
import { gateway } from "../state/gateway";
import { loadNewest, loadOlder, outboxFor, store, type RoomState } from "../state/store";
import { Avatar } from "./Avatar";
import { Composer } from "./Composer";
import { roomTitle } from "./ConversationList";
import { Dialog } from "./Dialog";
import { errorText } from "./errors";
import { IconBack } from "./icons";
import { MessageItem, PendingItem, SystemLine } from "./Message";

const REVOKE_WINDOW_MS = 300_000;

type Item = { key: string; m: MessageView; o?: undefined } | { key: string; o: OutboxItem; m?: undefined };

function itemsOf(r: RoomState): Item[] {
  const out: Item[] = [];
  // A revoked message is shown by its notice ("alice revoked a message") alone.
  for (const m of r.messages) if (!(m.revoked && m.kind !== "system")) out.push({ key: `m${m.id}`, m });
  for (const o of outboxFor(r.view.id)) out.push({ key: `c${o.client_id}`, o });
  return out;
}

function dayKey(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function ReadByDialog(props: { room: RoomState; m: MessageView; onClose: () => void }) {
  const members = [...(props.room.members?.values() ?? [])].filter((x) => x.user.id !== store.me?.id);
  const readers = members.filter((x) => (x.read_seq ?? 0) >= props.m.seq);
  const others = members.filter((x) => (x.read_seq ?? 0) < props.m.seq);
  return (
    <Dialog label={t("chat.readBy")} onClose={props.onClose}>
      <div class="dialog-body">
        <h2>{t("chat.readBy")}</h2>
        {readers.length === 0 ? (
          <p class="muted">{t("chat.readBy.none")}</p>
        ) : (
          <ul class="rows" aria-label={t("chat.readBy")}>
            {readers.map((x) => (
              <li class="row" key={x.user.id}>
                <Avatar name={store.displayName(props.room, x.user)} src={x.user.avatar} size={28} decorative />
                <bdi>{cleanText(store.displayName(props.room, x.user))}</bdi>
              </li>
            ))}
          </ul>
        )}
        {others.length > 0 && (
          <>
            <h2>{t("chat.notRead")}</h2>
            <ul class="rows" aria-label={t("chat.notRead")}>
              {others.map((x) => (
                <li class="row" key={x.user.id}>
                  <Avatar name={store.displayName(props.room, x.user)} src={x.user.avatar} size={28} decorative />
                  <bdi>{cleanText(store.displayName(props.room, x.user))}</bdi>
                </li>
              ))}
            </ul>
          </>
        )}
        <div class="dialog-actions">
          <button type="button" class="btn primary" onClick={props.onClose}>
            {t("common.close")}
          </button>
        </div>
      </div>
    </Dialog>
  );
}

async function toggleFavorite(m: MessageView): Promise<void> {
  try {
    if (store.favorites.has(m.id)) {
      await del(`/me/favorites/${m.id}`);
      store.favorites.delete(m.id);
      store.toast(t("actions.unfavorited"));
    } else {
      await put(`/me/favorites/${m.id}`);
      store.favorites.add(m.id);
      store.toast(t("actions.favorited"));
    }
  } catch (e) {
    store.toast(errorText(e));
  }
  store.changed();
}

async function deleteForMe(ids: number[]): Promise<boolean> {
  if (ids.length === 0) return false;
  try {
    if (ids.length === 1) await del(`/messages/${ids[0]}`);
    else await post(`/messages/delete`, { ids });
    store.removeMessages(ids);
    return true;
  } catch (e) {
    store.toast(errorText(e));
    return false;
  }
}

export function ChatView(props: { roomId: number }) {
  const room = store.rooms.get(props.roomId);
  const scroller = useRef<HTMLDivElement>(null);
  const [anchor, setAnchor] = useState<WindowAnchor>(null);
  const atBottom = useRef(true);
  const saved = useRef<{ key: string; offset: number } | null>(null);
  const lastKey = useRef<string | null>(null);
  const [unseen, setUnseen] = useState(false);
  const [menu, setMenu] = useState<string | null>(null);
  const [selecting, setSelecting] = useState<Set<number> | null>(null);
  const [readBy, setReadBy] = useState<MessageView | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<number[] | null>(null);
  const [, setTick] = useState(0);

  // The revoke action disappears when its window passes.
  useEffect(() => {
    const i = setInterval(() => setTick((n) => n + 1), 15_000);
    return () => clearInterval(i);
  }, []);

  useEffect(() => {
    setAnchor(null);
    atBottom.current = true;
    saved.current = null;
    lastKey.current = null;
    setUnseen(false);
    setMenu(null);
    setSelecting(null);
    store.viewing = { roomId: props.roomId, atBottom: true };
    const r = store.rooms.get(props.roomId);
    if (r && !r.loaded) void loadNewest(props.roomId).catch(() => undefined);
    if (r) void store.loadMembers(props.roomId).catch(() => undefined);
    return () => {
      if (store.viewing?.roomId === props.roomId) store.viewing = null;
    };
  }, [props.roomId, !!room]);

  const items = room ? itemsOf(room) : [];
  const keys = items.map((i) => i.key);
  const [start, end] = windowRange(keys, anchor);
  const visible = items.slice(start, end);
  const newest = keys[keys.length - 1] ?? null;

  const markVisibleRead = useCallback(() => {
    const el = scroller.current;
    const r = store.rooms.get(props.roomId);
    if (!el || !r || document.visibilityState !== "visible") return;
    let max = 0;
    const bottom = el.scrollTop + el.clientHeight;
    for (const li of el.querySelectorAll<HTMLElement>("li[data-seq]")) {
      if (li.offsetTop < bottom) max = Math.max(max, Number(li.dataset.seq));
    }
    if (atBottom.current && r.messages.length) max = Math.max(max, r.messages[r.messages.length - 1]!.seq);
    if (max > (r.view.read_seq ?? 0) || (r.view.unread ?? 0) > 0) gateway.markRead(props.roomId, max);
  }, [props.roomId]);

  // Keep the view still when messages are added above, follow the end when at the bottom.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (atBottom.current && end === keys.length) {
      el.scrollTop = el.scrollHeight;
    } else if (saved.current) {
      const li = el.querySelector<HTMLElement>(`[data-key="${saved.current.key}"]`);
      if (li) el.scrollTop = li.offsetTop - saved.current.offset;
    }
    if (newest !== lastKey.current) {
      const prev = lastKey.current;
      lastKey.current = newest;
      const last = items[items.length - 1];
      const fromOther = last?.m && last.m.sender.id !== store.me?.id;
      if (prev !== null && fromOther && !(atBottom.current && end === keys.length)) setUnseen(true);
    }
    markVisibleRead();
  });

  useEffect(() => {
    const f = () => markVisibleRead();
    document.addEventListener("visibilitychange", f);
    window.addEventListener("focus", f);
    return () => {
      document.removeEventListener("visibilitychange", f);
      window.removeEventListener("focus", f);
    };
  }, [markVisibleRead]);

  const remember = () => {
    const el = scroller.current;
    if (!el) return;
    const top = el.scrollTop;
    for (const li of el.querySelectorAll<HTMLElement>("[data-key]")) {
      if (li.offsetTop + li.offsetHeight > top) {
        saved.current = { key: li.dataset.key!, offset: li.offsetTop - top };
        return;
      }
    }
    saved.current = null;
  };

  const onScroll = () => {
    const el = scroller.current;
    if (!el || !room) return;
    const bottomGap = el.scrollHeight - el.scrollTop - el.clientHeight;
    atBottom.current = bottomGap < 48;
    if (store.viewing?.roomId === props.roomId) store.viewing.atBottom = atBottom.current && end === keys.length;
    remember();
    if (el.scrollTop < 240) {
      if (start > 0) {
        const s = shiftOlder(keys, anchor);
        if (s.anchor !== anchor) setAnchor(s.anchor);
      } else if (room.hasOlder && !room.loadingOlder) {
        void loadOlder(props.roomId).catch(() => undefined);
      }
    }
    if (bottomGap < 240 && end < keys.length) setAnchor(shiftNewer(keys, anchor));
    if (atBottom.current && end === keys.length) {
      if (anchor !== null) setAnchor(null);
      if (unseen) setUnseen(false);
    }
    markVisibleRead();
  };

  const toBottom = () => {
    atBottom.current = true;
    saved.current = null;
    setAnchor(null);
    setUnseen(false);
    if (store.viewing) store.viewing.atBottom = true;
    requestAnimationFrame(() => {
      const el = scroller.current;
      if (el) el.scrollTop = el.scrollHeight;
    });
  };

  const onMediaLoad = () => {
    const el = scroller.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  };

  if (!room) {
    return (
      <div class="chat">
        <p class="empty" role="status">
          {store.roomsLoaded ? t("chat.notFound") : t("app.loading")}
        </p>
      </div>
    );
  }

  const name = roomTitle(room);
  const isGroup = room.view.kind === "group";
  const peer = store.peerId(room);
  const peerOnline = peer !== null && store.online.has(peer);
  const typingIds = [...room.typing.entries()].filter(([, until]) => until > Date.now()).map(([id]) => id);
  const typingText =
    typingIds.length === 1
      ? t("chat.typing.one", { name: cleanText(store.displayName(room, { id: typingIds[0]!, nickname: room.members?.get(typingIds[0]!)?.user.nickname ?? room.view.peer?.nickname ?? "" })) })
      : typingIds.length > 1
        ? tn("chat.typing", typingIds.length)
        : "";
  const onlineCount = isGroup ? [...(room.members?.keys() ?? [])].filter((id) => store.online.has(id)).length : 0;
  const dissolved = !!room.view.dissolved_at;
  const me = store.me?.id;

  let lastMineId = -1;
  for (let i = room.messages.length - 1; i >= 0; i--) {
    const x = room.messages[i]!;
    if (x.sender.id === me && x.kind !== "system" && !x.revoked) {
      lastMineId = x.id;
      break;
    }
  }
  const rendered: preact.JSX.Element[] = [];
  let prevDay: string | null = null;
  let prevSender: number | null = null;
  for (const it of visible) {
    const created = it.m ? it.m.created_at : it.o.created_at;
    const day = dayKey(created);
    if (day !== prevDay) {
      rendered.push(
        <li class="day-sep" key={`d${day}`}>
          <span>{formatDay(created)}</span>
        </li>,
      );
      prevDay = day;
      prevSender = null;
    }
    if (it.o) {
      rendered.push(
          <PendingItem key={it.key} k={it.key} o={it.o} onRetry={() => gateway.retry(it.o.client_id)} onDiscard={() => gateway.discard(it.o.client_id)} />,
      );
      prevSender = me ?? null;
      continue;
    }
    const m = it.m;
    if (m.kind === "system") {
      rendered.push(
        <SystemLine key={it.key} k={it.key} m={m} />,
      );
      prevSender = null;
      continue;
    }
    const mine = m.sender.id === me;
    const senderName = cleanText(store.displayName(room, m.sender));
    const member = room.members?.get(m.sender.id);
    let receipt: Parameters<typeof MessageItem>[0]["receipt"] = null;
    // Direct rooms: one receipt, on my newest message (earlier ones are read when it is).
    if (mine && !isGroup && room.view.peer_read_seq !== undefined && m.id === lastMineId) receipt = { kind: "direct", read: room.view.peer_read_seq >= m.seq };
    if (mine && isGroup && room.members) {
      let count = 0;
      for (const x of room.members.values()) if (x.user.id !== me && (x.read_seq ?? 0) >= m.seq) count++;
      receipt = { kind: "group", count };
    }
    const canRevoke = mine && Date.now() - Date.parse(m.created_at) < REVOKE_WINDOW_MS && !dissolved;
    rendered.push(
        <MessageItem
          key={it.key}
          k={it.key}
          m={m}
          mine={mine}
          senderName={senderName}
          senderAvatar={member?.group_avatar ?? m.sender.avatar}
          showSender={isGroup && !mine && prevSender !== m.sender.id}
          online={store.online.has(m.sender.id)}
          favorite={store.favorites.has(m.id)}
          receipt={receipt}
          selecting={selecting !== null}
          selected={selecting?.has(m.id) ?? false}
          menuOpen={menu === it.key}
          canRevoke={canRevoke}
          onToggleSelect={() => {
            const next = new Set(selecting);
            if (next.has(m.id)) next.delete(m.id);
            else next.add(m.id);
            setSelecting(next);
          }}
          onFavorite={() => {
            setMenu(null);
            void toggleFavorite(m);
          }}
          onMenu={(open) => setMenu(open ? it.key : null)}
          onRevoke={() => {
            setMenu(null);
            void post(`/messages/${m.id}/revoke`).catch((e) => store.toast(errorText(e)));
          }}
          onDelete={() => {
            setMenu(null);
            setConfirmDelete([m.id]);
          }}
          onSelectMode={() => {
            setMenu(null);
            setSelecting(new Set([m.id]));
          }}
          onReadBy={() => {
            setReadBy(m);
            void store.loadMembers(room.view.id).catch(() => undefined);
          }}
          onMediaLoad={onMediaLoad}
        />,
    );
    prevSender = m.sender.id;
  }

  return (
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-head">
        <button type="button" class="icon-btn back-btn" aria-label={t("nav.back")} onClick={() => navigate("/")}>
          <IconBack />
        </button>
        <Avatar name={name} src={isGroup ? room.view.avatar : room.view.peer?.avatar} size={38} online={peerOnline} decorative />
        <div class="chat-title">
          <h1 id="chat-title">
            <bdi>{name}</bdi>
          </h1>
          <div class="chat-sub">
            {isGroup ? (
              <span>
                {tn("chat.members", room.view.member_count)}
                {onlineCount > 0 ? ` · ${onlineCount} ${t("rooms.online")}` : ""}
              </span>
            ) : peerOnline ? (
              <span>{t("rooms.online")}</span>
            ) : null}
          </div>
        </div>
      </header>
      {dissolved && <p class="banner">{t("chat.dissolved")}</p>}
      <div class="timeline" ref={scroller} onScroll={onScroll} tabIndex={0} role="log" aria-label={t("chat.messages")} aria-live="polite" aria-relevant="additions">
        <p class="timeline-edge" aria-hidden={start > 0 ? "true" : undefined}>
          {start > 0 ? "" : room.loadingOlder ? t("chat.loadingOlder") : room.hasOlder ? "" : t("chat.beginning")}
        </p>
        <ol>{rendered}</ol>
      </div>
      {unseen && (
        <button type="button" class="btn primary new-msgs" onClick={toBottom}>
          {t("chat.newMessages")}
        </button>
      )}
      <div class="typing" aria-live="polite" data-testid="typing">
        {typingText}
      </div>
      {selecting ? (
        <div class="select-bar" role="toolbar" aria-label={t("actions.menu")}>
          <span>{tn("actions.selected", selecting.size)}</span>
          <button
            type="button"
            class="btn danger small"
            disabled={selecting.size === 0}
            onClick={() => setConfirmDelete([...selecting])}
          >
            {t("actions.deleteSelected")}
          </button>
          <button type="button" class="btn ghost small" onClick={() => setSelecting(null)}>
            {t("actions.cancelSelect")}
          </button>
        </div>
      ) : (
        <Composer roomId={room.view.id} disabled={dissolved} onSent={toBottom} />
      )}
      {readBy && <ReadByDialog room={room} m={readBy} onClose={() => setReadBy(null)} />}
      {confirmDelete && (
        <Dialog label={t("actions.delete")} onClose={() => setConfirmDelete(null)}>
          <div class="dialog-body">
            <h2>{t("actions.delete")}</h2>
            <p>{tn("actions.deleteConfirm", confirmDelete.length)}</p>
            <div class="dialog-actions">
              <button type="button" class="btn ghost" onClick={() => setConfirmDelete(null)}>
                {t("common.cancel")}
              </button>
              <button
                type="button"
                class="btn primary"
                onClick={async () => {
                  const ids = confirmDelete;
                  setConfirmDelete(null);
                  if (await deleteForMe(ids)) setSelecting(null);
                }}
              >
                {t("actions.delete")}
              </button>
            </div>
          </div>
        </Dialog>
      )}
    </section>
  );
}
