import { post } from "../api/http";
import { endSession, getUser } from "../api/session";
import { t } from "../i18n";
import { linkClick, type Route } from "../router";
import { LangSwitch } from "./LangSwitch";
import { Avatar } from "./Avatar";

async function logout(): Promise<void> {
  try {
    await post("/auth/logout");
  } catch {
    // Logged out locally either way; the token expires on its own.
  }
  endSession(null);
}

function NavLink(props: { href: string; active: boolean; label: string }) {
  return (
    <a href={props.href} class={props.active ? "nav-link active" : "nav-link"} aria-current={props.active ? "page" : undefined} onClick={(e) => linkClick(e, props.href)}>
      {props.label}
    </a>
  );
}

export function Shell(props: { route: Route }) {
  const me = getUser();
  const r = props.route;
  return (
    <div class="shell">
      <header class="topbar">
        <div class="me">
          {me && <Avatar name={me.nickname} src={me.avatar} size={32} />}
          <span class="me-name">{me?.nickname}</span>
        </div>
        <nav aria-label={t("nav.main")} class="nav">
          <NavLink href="/" active={r.name === "home" || r.name === "room"} label={t("nav.chats")} />
          <NavLink href="/friends" active={r.name === "friends"} label={t("nav.friends")} />
          <NavLink href="/favorites" active={r.name === "favorites"} label={t("nav.favorites")} />
        </nav>
        <div class="topbar-end">
          <LangSwitch />
          <button type="button" class="btn ghost" onClick={logout}>
            {t("auth.logout")}
          </button>
        </div>
      </header>
      <main id="main" class="main">
        <p class="empty">{t("chat.select")}</p>
      </main>
    </div>
  );
}
