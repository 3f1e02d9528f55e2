import { useEffect, useState } from "preact/hooks";
import type { FriendRequestView, FriendView, Page, PublicUser, RoomView } from "../api/wire";
import { get, patch, post, query } from "../api/http";
import { formatDateTime, t } from "../i18n";
import { cleanText } from "../lib/text";
import { navigate } from "../router";
import { store } from "../state/store";
import { Avatar } from "./Avatar";
import { errorText } from "./errors";
import { FormError, useSubmit } from "./form";

export async function openDirect(userId: number): Promise<void> {
  try {
    const room = await post<RoomView>("/rooms/direct", { user_id: userId });
    store.upsertRoom(room);
    store.changed();
    navigate(`/rooms/${room.id}`);
  } catch (e) {
    store.toast(errorText(e));
  }
}

function AddFriendForm(props: { user: PublicUser; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [remark, setRemark] = useState("");
  const { busy, err, general, submit } = useSubmit(async () => {
    const req = await post<FriendRequestView>("/friend-requests", { user_id: props.user.id, note: note.trim() || null, remark: remark.trim() || null });
    store.toast(req.status === "agree" ? t("friends.addedNow") : t("friends.requestSent"));
    if (req.status === "agree") void store.loadFriends();
    props.onDone();
  });
  const id = `add-${props.user.id}`;
  return (
    <form
      class="inline-form"
      aria-label={`${t("friends.add")}: ${cleanText(props.user.nickname)}`}
      onSubmit={submit}
    >
      <div class="field">
        <label for={`${id}-note`}>{t("friends.note")}</label>
        <input id={`${id}-note`} type="text" maxLength={50} value={note} onInput={(e) => setNote((e.currentTarget as HTMLInputElement).value)} aria-invalid={err.note ? "true" : undefined} />
        {err.note && <p class="field-error">{err.note}</p>}
      </div>
      <div class="field">
        <label for={`${id}-remark`}>{t("friends.remark")}</label>
        <input id={`${id}-remark`} type="text" maxLength={32} value={remark} onInput={(e) => setRemark((e.currentTarget as HTMLInputElement).value)} aria-invalid={err.remark ? "true" : undefined} />
        {err.remark && <p class="field-error">{err.remark}</p>}
      </div>
      <button type="submit" class="btn primary" disabled={busy}>
        {t("friends.send")}
      </button>
      <FormError text={general} />
    </form>
  );
}

function Search() {
  const [q, setQ] = useState("");
  const [results, setResults] = useState<PublicUser[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState<number | null>(null);
  if (store.me?.role === "guest") return <p class="muted">{t("friends.guestNoSearch")}</p>;
  return (
    <>
      <form
        class="search-form"
        role="search"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          if (q.trim().length < 3) {
            setError(t("friends.search.hint"));
            return;
          }
          try {
            const page = await get<Page<PublicUser>>(`/users${query({ q: q.trim(), limit: 20 })}`);
            setResults(page.items);
          } catch (x) {
            setError(errorText(x));
          }
        }}
      >
        <div class="field">
          <label for="user-search">{t("friends.search.label")}</label>
          <input id="user-search" type="search" value={q} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} aria-describedby="user-search-hint" />
        </div>
        <button type="submit" class="btn primary">
          {t("friends.search.submit")}
        </button>
      </form>
      <p id="user-search-hint" class={error ? "field-error" : "field-hint"} role={error ? "alert" : undefined}>
        {error ?? t("friends.search.hint")}
      </p>
      {results && results.length === 0 && <p class="muted">{t("friends.search.none")}</p>}
      {results && results.length > 0 && (
        <ul class="rows" aria-label={t("friends.search")}>
          {results.map((u) => {
            const isMe = u.id === store.me?.id;
            const isFriend = store.friends.some((f) => f.user.id === u.id);
            const name = cleanText(u.nickname);
            return (
              <li class="row" key={u.id} data-testid="user-result">
                <Avatar name={name} src={u.avatar} size={40} decorative />
                <div class="row-body">
                  <div class="row-title">
                    <bdi>{name}</bdi>
                  </div>
                  <div class="row-sub">
                    <bdi>@{cleanText(u.username)}</bdi>
                  </div>
                </div>
                <div class="row-actions">
                  {isMe ? (
                    <span class="muted">{t("friends.you")}</span>
                  ) : isFriend ? (
                    <button type="button" class="btn small secondary" onClick={() => void openDirect(u.id)}>
                      {t("friends.chat")}
                    </button>
                  ) : (
                    <button type="button" class="btn small secondary" aria-expanded={adding === u.id} onClick={() => setAdding(adding === u.id ? null : u.id)} aria-label={`${t("friends.add")}: ${name}`}>
                      {t("friends.add")}
                    </button>
                  )}
                </div>
                {adding === u.id && <AddFriendForm user={u} onDone={() => setAdding(null)} />}
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}

function Incoming() {
  const [remarks, setRemarks] = useState<Record<number, string>>({});
  const answer = async (req: FriendRequestView, decision: "agree" | "refuse" | "ignore") => {
    try {
      await post(`/friend-requests/${req.id}/answer`, { decision, remark: decision === "agree" ? remarks[req.id]?.trim() || null : null });
      store.incoming = store.incoming.filter((x) => x.id !== req.id);
      store.changed();
      if (decision === "agree") void store.loadFriends();
    } catch (e) {
      store.toast(errorText(e));
      void store.loadIncoming();
    }
  };
  if (store.incoming.length === 0) return <p class="muted">{t("friends.incoming.none")}</p>;
  return (
    <ul class="rows" aria-label={t("friends.incoming")}>
      {store.incoming.map((req) => {
        const name = cleanText(req.from.nickname);
        return (
          <li class="row" key={req.id} data-testid="friend-request">
            <Avatar name={name} src={req.from.avatar} size={40} decorative />
            <div class="row-body">
              <div class="row-title">
                <bdi>{name}</bdi>
              </div>
              {req.note && (
                <div class="row-sub">
                  <bdi>{cleanText(req.note)}</bdi>
                </div>
              )}
              <div class="row-sub">{formatDateTime(req.created_at)}</div>
            </div>
            <div class="inline-form">
              <div class="field">
                <label for={`remark-${req.id}`}>{t("friends.remark")}</label>
                <input id={`remark-${req.id}`} type="text" maxLength={32} value={remarks[req.id] ?? ""} onInput={(e) => setRemarks({ ...remarks, [req.id]: (e.currentTarget as HTMLInputElement).value })} />
              </div>
              <div class="row-actions">
                <button type="button" class="btn small primary" onClick={() => void answer(req, "agree")} aria-label={`${t("friends.agree")}: ${name}`}>
                  {t("friends.agree")}
                </button>
                <button type="button" class="btn small danger" onClick={() => void answer(req, "refuse")} aria-label={`${t("friends.refuse")}: ${name}`}>
                  {t("friends.refuse")}
                </button>
                <button type="button" class="btn small ghost" onClick={() => void answer(req, "ignore")} aria-label={`${t("friends.ignore")}: ${name}`}>
                  {t("friends.ignore")}
                </button>
              </div>
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function FriendRow(props: { f: FriendView }) {
  const f = props.f;
  const [editing, setEditing] = useState(false);
  const [remark, setRemark] = useState(f.remark ?? "");
  const nick = cleanText(f.user.nickname);
  const shown = cleanText(f.remark) || nick;
  return (
    <li class="row" data-testid="friend">
      <Avatar name={shown} src={f.user.avatar} size={40} online={store.online.has(f.user.id)} decorative />
      <div class="row-body">
        <div class="row-title">
          <bdi>{shown}</bdi>
        </div>
        <div class="row-sub">
          {f.remark ? (
            <>
              <bdi>{nick}</bdi> ·{" "}
            </>
          ) : null}
          <bdi>@{cleanText(f.user.username)}</bdi> · {t("friends.since", { date: formatDateTime(f.since) })}
        </div>
      </div>
      <div class="row-actions">
        <button type="button" class="btn small primary" onClick={() => void openDirect(f.user.id)} aria-label={`${t("friends.chat")}: ${shown}`}>
          {t("friends.chat")}
        </button>
        <button type="button" class="btn small ghost" aria-expanded={editing} onClick={() => setEditing(!editing)} aria-label={`${t("friends.editRemark")}: ${shown}`}>
          {t("friends.editRemark")}
        </button>
      </div>
      {editing && (
        <form
          class="inline-form"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await patch(`/friends/${f.user.id}`, { remark: remark.trim() || null });
              await store.loadFriends();
              setEditing(false);
            } catch (x) {
              store.toast(errorText(x));
            }
          }}
        >
          <div class="field">
            <label for={`edit-remark-${f.user.id}`}>{t("friends.remark")}</label>
            <input id={`edit-remark-${f.user.id}`} type="text" maxLength={32} value={remark} onInput={(e) => setRemark((e.currentTarget as HTMLInputElement).value)} />
          </div>
          <button type="submit" class="btn small primary">
            {t("friends.save")}
          </button>
          <button type="button" class="btn small ghost" onClick={() => setEditing(false)}>
            {t("friends.cancel")}
          </button>
        </form>
      )}
    </li>
  );
}

export function FriendsPage() {
  useEffect(() => {
    void store.loadIncoming().catch(() => undefined);
    void store.loadFriends().catch(() => undefined);
  }, []);
  return (
    <div class="page">
      <div class="page-inner">
        <h1>{t("friends.title")}</h1>
        <section class="card" aria-labelledby="search-title">
          <h2 id="search-title">{t("friends.search")}</h2>
          <Search />
        </section>
        <section class="card" aria-labelledby="incoming-title">
          <h2 id="incoming-title">
            {t("friends.incoming")}
            {store.incoming.length > 0 && <span class="badge nav-badge">{store.incoming.length}</span>}
          </h2>
          <Incoming />
        </section>
        <section class="card" aria-labelledby="friends-title">
          <h2 id="friends-title">{t("friends.list")}</h2>
          {store.friendsLoaded && store.friends.length === 0 ? (
            <p class="muted">{t("friends.list.none")}</p>
          ) : (
            <ul class="rows" aria-label={t("friends.list")}>
              {store.friends.map((f) => (
                <FriendRow key={f.user.id} f={f} />
              ))}
            </ul>
          )}
        </section>
      </div>
    </div>
  );
}
