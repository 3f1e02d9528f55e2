import { useEffect, useState } from "preact/hooks";
import { post } from "../api/http";
import { endSession, getUser } from "../api/session";
import { t } from "../i18n";
import { linkClick, navigate, type Route } from "../router";
import { gateway, setOnLeftRoom } from "../state/gateway";
import { useSignal } from "../state/reactive";
import { store } from "../state/store";
import { restoreUploads } from "../state/uploads";
import { Avatar } from "./Avatar";
import { ChatView } from "./ChatView";
import { ConversationList } from "./ConversationList";
import { FavoritesPage } from "./Favorites";
import { FriendsPage } from "./Friends";
import { GroupDialog } from "./GroupDialog";
import { InvitePage } from "./Invite";
import { LangSwitch } from "./LangSwitch";
import { IconClose } from "./icons";
import { cleanText } from "../lib/text";

async function logout(): Promise<void> {
  gateway.stop();
  try {
    await post("/auth/logout");
  } catch {
    // Logged out locally either way; the token stops working when it expires.
  }
  endSession(null);
}

function NavLink(props: { href: string; active: boolean; label: string; badge?: number }) {
  return (
    <a href={props.href} class={props.active ? "nav-link active" : "nav-link"} aria-current={props.active ? "page" : undefined} onClick={(e) => linkClick(e, props.href)}>
      {props.label}
      {props.badge ? (
        <span class="badge nav-badge" aria-hidden="true">
          {props.badge > 99 ? "99+" : props.badge}
        </span>
      ) : null}
    </a>
  );
}

function ConnectionState() {
  const s = store.conn;
  return (
    <span class="conn" data-testid="connection-state" data-state={s} role="status" aria-live="polite">
      <span class="conn-text">{t(`conn.${s}`)}</span>
    </span>
  );
}

function Toasts() {
  return (
    <div class="toasts" aria-live="polite">
      {store.toasts.map((x) => (
        <div class="toast" key={x.id} role="status">
          <span>
            {x.href ? (
              <a
                href={x.href}
                class="toast-link"
                onClick={(e) => {
                  linkClick(e, x.href!);
                  store.dismissToast(x.id);
                }}
              >
                {x.text}
              </a>
            ) : (
              x.text
            )}
          </span>
          <button type="button" aria-label={t("common.dismiss")} onClick={() => store.dismissToast(x.id)}>
            <IconClose />
          </button>
        </div>
      ))}
    </div>
  );
}

export function Shell(props: { route: Route }) {
  useSignal(store.signal);
  const [group, setGroup] = useState(false);
  useEffect(() => {
    store.reset();
    gateway.start();
    void restoreUploads();
    setOnLeftRoom((id) => {
      if (location.pathname === `/rooms/${id}`) navigate("/", true);
    });
    return () => gateway.stop();
  }, []);

  const me = store.me ?? getUser();
  const r = props.route;
  const inRoom = r.name === "room";
  const listRoute = r.name === "home" || r.name === "room";
  const unreadTotal = [...store.rooms.values()].reduce((n, x) => n + (x.view.unread ?? 0), 0);
  const myName = cleanText(me?.nickname);

  let content: preact.JSX.Element;
  switch (r.name) {
    case "room":
      content = <ChatView key={r.id} roomId={r.id} />;
      break;
    case "friends":
      content = <FriendsPage />;
      break;
    case "favorites":
      content = <FavoritesPage />;
      break;
    case "invite":
      content = <InvitePage token={r.token} />;
      break;
    case "home":
      content = <p class="empty">{t("chat.select")}</p>;
      break;
    default:
      content = (
        <div class="empty">
          <p>{t("common.notFound")}</p>
          <a href="/" onClick={(e) => linkClick(e, "/")}>
            {t("common.home")}
          </a>
        </div>
      );
  }

  return (
    <div class={inRoom ? "shell in-room" : "shell"}>
      <a class="skip-link" href="#main">
        {t("app.skip")}
      </a>
      <header class="topbar">
        <div class="me">
          {me && <Avatar name={myName} src={me.avatar} size={32} decorative />}
          <span class="me-name">
            <bdi>{myName}</bdi>
          </span>
        </div>
        <ConnectionState />
        <nav aria-label={t("nav.main")} class="nav">
          <NavLink href="/" active={listRoute} label={t("nav.chats")} badge={unreadTotal} />
          <NavLink href="/friends" active={r.name === "friends"} label={t("nav.friends")} badge={store.incoming.length} />
          <NavLink href="/favorites" active={r.name === "favorites"} label={t("nav.favorites")} />
        </nav>
        <div class="topbar-end">
          <LangSwitch />
          <button type="button" class="btn ghost" onClick={logout}>
            {t("auth.logout")}
          </button>
        </div>
      </header>
      {listRoute && <ConversationList activeId={inRoom ? r.id : null} onNewGroup={() => setGroup(true)} />}
      <main id="main" class={listRoute ? "main with-list" : "main full"} tabIndex={-1}>
        {content}
      </main>
      <Toasts />
      {group && <GroupDialog onClose={() => setGroup(false)} />}
    </div>
  );
}
