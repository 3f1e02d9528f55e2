import type { MessageView } from "../api/wire";
import { formatShort, t, tn } from "../i18n";
import { systemText } from "../lib/system";
import { cleanText } from "../lib/text";
import { linkClick } from "../router";
import { store, type RoomState } from "../state/store";
import { Avatar } from "./Avatar";

export function previewText(m: MessageView | undefined, mine: boolean): string {
  if (!m) return t("rooms.noMessages");
  let text: string;
  if (m.revoked) text = t("preview.revoked");
  else if (m.kind === "image") text = t("preview.image");
  else if (m.kind === "video") text = t("preview.video");
  else if (m.kind === "file") text = t("preview.file");
  else if (m.kind === "system") text = systemText(cleanText(m.body), t);
  else text = cleanText(m.body).replace(/\s+/g, " ");
  if (m.kind === "image" || m.kind === "video" || m.kind === "file") {
    const caption = cleanText(m.body).trim();
    if (caption && !m.revoked) text = `${text} ${caption}`;
  }
  return mine && m.kind !== "system" ? t("preview.you", { text }) : text;
}

export function roomTitle(r: RoomState): string {
  return cleanText(store.roomName(r)) || t("rooms.group.unnamed");
}

function Conversation(props: { room: RoomState; active: boolean }) {
  const r = props.room;
  const name = roomTitle(r);
  const peer = store.peerId(r);
  const online = peer !== null && store.online.has(peer);
  const last = r.view.last_message;
  const unread = r.view.unread ?? 0;
  const href = `/rooms/${r.view.id}`;
  const avatarSrc = r.view.kind === "direct" ? r.view.peer?.avatar : r.view.avatar;
  return (
    <li>
      <a href={href} class="conv" data-testid="conversation" data-room-id={r.view.id} aria-current={props.active ? "page" : undefined} onClick={(e) => linkClick(e, href)}>
        <Avatar name={name} src={avatarSrc} size={44} online={online} decorative />
        <span class="conv-body">
          <span class="conv-top">
            <bdi class="conv-name">{name}</bdi>
            {last && <time class="conv-time" dateTime={last.created_at}>{formatShort(last.created_at)}</time>}
          </span>
          <span class="conv-bottom">
            <bdi class="conv-preview">{previewText(last, last?.sender.id === store.me?.id)}</bdi>
            {online && <span class="sr-only">{t("rooms.online")}</span>}
            {r.view.dissolved_at && <span class="muted">{t("rooms.dissolved")}</span>}
            {unread > 0 && (
              <span class="badge" data-testid="unread-badge" data-count={unread}>
                <span aria-hidden="true">{unread > 99 ? "99+" : unread}</span>
                <span class="sr-only">{tn("rooms.unread", unread)}</span>
              </span>
            )}
          </span>
        </span>
      </a>
    </li>
  );
}

export function ConversationList(props: { activeId: number | null; onNewGroup: () => void }) {
  const rooms = store.sortedRooms();
  return (
    <section class="sidebar" aria-labelledby="rooms-title">
      <div class="sidebar-head">
        <h2 id="rooms-title">{t("rooms.title")}</h2>
        {store.me?.role !== "guest" && (
          <button type="button" class="btn small secondary" onClick={props.onNewGroup}>
            {t("rooms.newGroup")}
          </button>
        )}
      </div>
      {store.roomsLoaded && rooms.length === 0 ? (
        <p class="empty">{t("rooms.empty")}</p>
      ) : (
        <ul class="conv-list" aria-label={t("rooms.title")}>
          {rooms.map((r) => (
            <Conversation key={r.view.id} room={r} active={r.view.id === props.activeId} />
          ))}
        </ul>
      )}
    </section>
  );
}
