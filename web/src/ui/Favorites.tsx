import { useEffect, useState } from "preact/hooks";
import type { FavoriteView } from "../api/wire";
import { del } from "../api/http";
import { formatDateTime, t } from "../i18n";
import { cleanText } from "../lib/text";
import { linkClick } from "../router";
import { store } from "../state/store";
import { Avatar } from "./Avatar";
import { errorText } from "./errors";
import { Attachment } from "./Media";
import { MessageText } from "./Message";
import { FormError } from "./form";

export function FavoritesPage() {
  const [items, setItems] = useState<FavoriteView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // Another device's change bumps the revision: refetch, and drop the
  // answer of a load that a newer one replaced.
  const revision = store.favoritesRevision;
  useEffect(() => {
    let current = true;
    store
      .loadFavorites()
      .then((list) => {
        if (!current) return;
        setItems(list);
        setError(null);
      })
      .catch((e) => {
        if (current) setError(errorText(e));
      });
    return () => {
      current = false;
    };
  }, [revision]);
  // Removals (here, on another device, or by deleting the message for me)
  // show before any refetch answers.
  const shown = items?.filter((f) => store.favorites.has(f.message.id)) ?? null;
  const remove = async (id: number) => {
    try {
      await del(`/me/favorites/${id}`);
      store.favorites.delete(id);
      store.changed();
      setItems((items ?? []).filter((f) => f.message.id !== id));
    } catch (e) {
      store.toast(errorText(e));
    }
  };
  return (
    <div class="page">
      <div class="page-inner">
        <h1>{t("favorites.title")}</h1>
        <FormError text={error} />
        {shown === null && !error && <p class="muted">{t("app.loading")}</p>}
        {shown !== null && shown.length === 0 && <p class="muted">{t("favorites.empty")}</p>}
        {shown !== null && shown.length > 0 && (
          <ul class="rows card" aria-label={t("favorites.title")}>
            {shown.map((f) => {
              const m = f.message;
              const name = cleanText(m.sender.nickname);
              const href = `/rooms/${m.room_id}`;
              return (
                <li class="row" key={m.id} data-testid="favorite" data-message-id={m.id}>
                  <Avatar name={name} src={m.sender.avatar} size={36} decorative />
                  <div class="row-body">
                    <div class="row-title">
                      <bdi>{name}</bdi>
                    </div>
                    <div class="bubble fav-body" dir="auto">
                      {m.revoked ? (
                        <em class="muted">{t("preview.revoked")}</em>
                      ) : m.file && (m.kind === "image" || m.kind === "video" || m.kind === "file") ? (
                        <Attachment kind={m.kind} file={m.file} />
                      ) : (
                        <MessageText text={m.body ?? ""} />
                      )}
                    </div>
                    <div class="row-sub">{t("favorites.savedAt", { date: formatDateTime(f.favorited_at) })}</div>
                  </div>
                  <div class="row-actions">
                    <a class="btn small secondary" href={href} onClick={(e) => linkClick(e, href)}>
                      {t("favorites.open")}
                    </a>
                    <button type="button" class="btn small ghost" onClick={() => void remove(m.id)}>
                      {t("favorites.remove")}
                    </button>
                  </div>
                </li>
              );
            })}
          </ul>
        )}
      </div>
    </div>
  );
}
