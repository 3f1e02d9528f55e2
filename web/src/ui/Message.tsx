import type { MessageView } from "../api/wire";
import { formatDateTime, formatTime, t, tn } from "../i18n";
import { systemText } from "../lib/system";
import { cleanText, linkify } from "../lib/text";
import type { OutboxItem } from "../lib/timeline";
import { Attachment, FileCard } from "./Media";
import { Avatar } from "./Avatar";
import { IconMore } from "./icons";

export function MessageText(props: { text: string }) {
  return (
    <>
      {linkify(props.text).map((s, i) =>
        s.kind === "link" ? (
          <a key={i} href={s.href} target="_blank" rel="noopener noreferrer">
            {s.text}
          </a>
        ) : (
          s.text
        ),
      )}
    </>
  );
}

export interface MessageProps {
  k: string;
  m: MessageView;
  mine: boolean;
  senderName: string;
  senderAvatar: string | null;
  showSender: boolean;
  online: boolean;
  favorite: boolean;
  /** Direct rooms: "read"/"unread"; groups: a count with a button; null: nothing to show. */
  receipt: { kind: "direct"; read: boolean } | { kind: "group"; count: number } | null;
  selecting: boolean;
  selected: boolean;
  menuOpen: boolean;
  canRevoke: boolean;
  onToggleSelect: () => void;
  onFavorite: () => void;
  onMenu: (open: boolean) => void;
  onRevoke: () => void;
  onDelete: () => void;
  onSelectMode: () => void;
  onReadBy: () => void;
  onMediaLoad: () => void;
}

let pressTimer: ReturnType<typeof setTimeout> | null = null;

export function SystemLine(props: { k: string; m: MessageView }) {
  return (
    <li class="sys" data-key={props.k} data-testid="message" data-seq={props.m.seq} data-message-id={props.m.id} data-kind="system">
      <bdi>{systemText(cleanText(props.m.body), t)}</bdi>
    </li>
  );
}

export function MessageItem(p: MessageProps) {
  const m = p.m;
  const media = m.kind === "image" || m.kind === "video" || m.kind === "file";
  const caption = cleanText(m.body).trim();
  const cls = ["msg", p.mine ? "mine" : "theirs", p.selected ? "selected" : ""].filter(Boolean).join(" ");
  return (
    <li
      class={cls}
      data-key={p.k}
      data-testid="message"
      data-seq={m.seq}
      data-message-id={m.id}
      data-client-id={m.client_id ?? undefined}
      data-kind={m.kind}
      data-mine={p.mine ? "true" : undefined}
      onDblClick={(e) => {
        if ((e.target as HTMLElement).closest("button, a, video, input")) return;
        p.onFavorite();
      }}
      onPointerDown={(e) => {
        if (e.pointerType !== "touch") return;
        pressTimer = setTimeout(() => {
          pressTimer = null;
          p.onFavorite();
        }, 550);
      }}
      onPointerUp={() => pressTimer && clearTimeout(pressTimer)}
      onPointerMove={() => pressTimer && clearTimeout(pressTimer)}
      onPointerCancel={() => pressTimer && clearTimeout(pressTimer)}
    >
      {p.selecting && <input type="checkbox" class="select-box" checked={p.selected} onChange={p.onToggleSelect} aria-label={t("actions.selectMessage")} />}
      {!p.mine && <Avatar name={p.senderName} src={p.senderAvatar} size={34} online={p.online} decorative />}
      <div class="msg-main">
        {p.showSender && (
          <span class="msg-sender">
            <bdi>{p.senderName}</bdi>
          </span>
        )}
        <div class={media ? "bubble media" : "bubble"} dir="auto">
          {media && m.file ? <Attachment kind={m.kind} file={m.file} onLoad={p.onMediaLoad} /> : null}
          {media && caption ? <div class="caption">{caption}</div> : null}
          {!media && <MessageText text={m.body ?? ""} />}
        </div>
        <div class="msg-meta">
          <time dateTime={m.created_at} title={formatDateTime(m.created_at)}>
            {formatTime(m.created_at)}
          </time>
          {p.favorite && (
            <span class="msg-fav" title={t("nav.favorites")} aria-label={t("nav.favorites")}>
              ★
            </span>
          )}
          {p.receipt?.kind === "direct" && <span data-testid="receipt">{p.receipt.read ? t("chat.read") : t("chat.unread")}</span>}
          {p.receipt?.kind === "group" && (
            <button type="button" data-testid="receipt" onClick={p.onReadBy}>
              {tn("chat.readCount", p.receipt.count)}
            </button>
          )}
        </div>
      </div>
      {!p.selecting && (
        <div class="msg-actions">
          <button type="button" class="icon-btn" aria-label={t("actions.menu")} aria-haspopup="true" aria-expanded={p.menuOpen} onClick={() => p.onMenu(!p.menuOpen)}>
            <IconMore />
          </button>
          {p.menuOpen && (
            <div class="menu" role="group" aria-label={t("actions.menu")}>
              <button type="button" onClick={p.onFavorite}>
                {p.favorite ? t("actions.unfavorite") : t("actions.favorite")}
              </button>
              {p.canRevoke && (
                <button type="button" onClick={p.onRevoke}>
                  {t("actions.revoke")}
                </button>
              )}
              <button type="button" onClick={p.onDelete}>
                {t("actions.delete")}
              </button>
              <button type="button" onClick={p.onSelectMode}>
                {t("actions.select")}
              </button>
            </div>
          )}
        </div>
      )}
    </li>
  );
}

export function PendingItem(props: { k: string; o: OutboxItem; onRetry: () => void; onDiscard: () => void }) {
  const o = props.o;
  const failed = o.status === "failed";
  return (
    <li class={failed ? "msg mine failed" : "msg mine pending"} data-key={props.k} data-testid="message" data-client-id={o.client_id} data-pending="true" data-kind={o.kind} data-mine="true">
      <div class="msg-main">
        <div class={o.file ? "bubble media" : "bubble"} dir="auto">
          {o.file ? <FileCard name={o.file.name} size={o.file.size} href={null} /> : <MessageText text={o.body ?? ""} />}
        </div>
        <div class="msg-meta">
          {failed ? (
            <>
              <span role="alert">
                {t("chat.failed")}
                {o.error ? ` — ${o.error}` : ""}
              </span>
              <button type="button" onClick={props.onRetry}>
                {t("chat.retry")}
              </button>
              <button type="button" onClick={props.onDiscard}>
                {t("chat.discard")}
              </button>
            </>
          ) : (
            <span>{t("chat.pending")}</span>
          )}
        </div>
      </div>
    </li>
  );
}
