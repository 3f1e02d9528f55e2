import { useEffect, useState } from "preact/hooks";
import type { RoomView } from "../api/wire";
import { post } from "../api/http";
import { t } from "../i18n";
import { cleanText } from "../lib/text";
import { navigate } from "../router";
import { store } from "../state/store";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";
import { FormError, useSubmit } from "./form";

export function GroupDialog(props: { onClose: () => void }) {
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const { busy, err, general, submit } = useSubmit(async () => {
    const room = await post<RoomView>("/rooms", { name: name.trim(), member_ids: [...picked] });
    store.upsertRoom(room);
    store.changed();
    props.onClose();
    navigate(`/rooms/${room.id}`);
  });
  useEffect(() => {
    if (!store.friendsLoaded) void store.loadFriends().catch(() => undefined);
  }, []);
  return (
    <Dialog label={t("group.create")} onClose={props.onClose}>
      <form
        class="dialog-body"
        onSubmit={submit}
      >
        <h2>{t("group.create")}</h2>
        <div class="field">
          <label for="group-name">{t("group.name")}</label>
          <input id="group-name" type="text" maxLength={50} required value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} aria-invalid={err.name ? "true" : undefined} />
          {err.name && <p class="field-error">{err.name}</p>}
        </div>
        <fieldset class="field">
          <legend>{t("group.pickFriends")}</legend>
          {store.friends.length === 0 ? (
            <p class="muted">{t("group.noFriends")}</p>
          ) : (
            <ul class="pick-list">
              {store.friends.map((f) => {
                const shown = cleanText(f.remark) || cleanText(f.user.nickname);
                return (
                  <li key={f.user.id}>
                    <label>
                      <input
                        type="checkbox"
                        checked={picked.has(f.user.id)}
                        onChange={() => {
                          const next = new Set(picked);
                          if (next.has(f.user.id)) next.delete(f.user.id);
                          else next.add(f.user.id);
                          setPicked(next);
                        }}
                      />
                      <Avatar name={shown} src={f.user.avatar} size={28} decorative />
                      <bdi>{shown}</bdi>
                    </label>
                  </li>
                );
              })}
            </ul>
          )}
        </fieldset>
        <FormError text={general} />
        <div class="dialog-actions">
          <button type="button" class="btn ghost" onClick={props.onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" class="btn primary" disabled={busy || !name.trim()}>
            {t("group.submit")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
