import { useEffect, useState } from "preact/hooks";
import type { InvitePreview, RoomView } from "../api/wire";
import { get, post } from "../api/http";
import { t, tn } from "../i18n";
import { cleanText } from "../lib/text";
import { navigate } from "../router";
import { store } from "../state/store";
import { Avatar } from "./Avatar";
import { errorText } from "./errors";
import { FormError } from "./form";

export function InvitePage(props: { token: string }) {
  const [preview, setPreview] = useState<InvitePreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get<InvitePreview>(`/invites/${encodeURIComponent(props.token)}`)
      .then(setPreview)
      .catch((e) => setError(errorText(e)));
  }, [props.token]);
  const join = async () => {
    setBusy(true);
    try {
      const room = await post<RoomView>(`/invites/${encodeURIComponent(props.token)}/join`);
      store.upsertRoom(room);
      store.changed();
      navigate(`/rooms/${room.id}`, true);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const name = cleanText(preview?.room.name) || t("rooms.group.unnamed");
  return (
    <div class="page">
      <div class="page-inner">
        <h1>{t("invite.title")}</h1>
        <section class="card">
          <FormError text={error} />
          {!preview && !error && <p class="muted">{t("app.loading")}</p>}
          {preview && (
            <div class="row">
              <Avatar name={name} src={preview.room.avatar} size={56} decorative />
              <div class="row-body">
                <div class="row-title">
                  <bdi>{name}</bdi>
                </div>
                <div class="row-sub">{tn("invite.members", preview.room.member_count)}</div>
                {preview.already_member && <div class="row-sub">{t("invite.already")}</div>}
              </div>
              {preview.already_member ? (
                <button type="button" class="btn primary" onClick={() => navigate(`/rooms/${preview.room.id}`, true)}>
                  {t("invite.open")}
                </button>
              ) : (
                <button type="button" class="btn primary" disabled={busy} onClick={join}>
                  {t("invite.join")}
                </button>
              )}
            </div>
          )}
        </section>
      </div>
    </div>
  );
}
