import { useEffect, useRef, useState } from "preact/hooks";
import { formatBytes, t } from "../i18n";
import { EMOJI_GROUPS, emojiList, type EmojiGroup } from "../lib/emoji";
import { cleanText } from "../lib/text";
import { gateway } from "../state/gateway";
import { useSignal } from "../state/reactive";
import { cancelUpload, dismissUpload, startUpload, uploadSignal, uploads } from "../state/uploads";
import { IconClip, IconSend, IconSmile } from "./icons";

function EmojiPicker(props: { onPick: (e: string) => void; onClose: () => void }) {
  const [group, setGroup] = useState<EmojiGroup>("smileys");
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>(".emoji-grid button")?.focus();
    const onDoc = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node) && !(e.target as HTMLElement).closest?.(".emoji-toggle")) props.onClose();
    };
    document.addEventListener("mousedown", onDoc);
    return () => document.removeEventListener("mousedown", onDoc);
  }, []);
  return (
    <div
      class="emoji-panel"
      ref={ref}
      role="dialog"
      aria-label={t("composer.emoji")}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          props.onClose();
        }
      }}
    >
      <div class="emoji-tabs" role="tablist" aria-label={t("composer.emoji")}>
        {EMOJI_GROUPS.map((g) => (
          <button type="button" role="tab" key={g} aria-selected={g === group} aria-controls="emoji-grid" title={t(`composer.emoji.${g}`)} aria-label={t(`composer.emoji.${g}`)} onClick={() => setGroup(g)}>
            {emojiList(g)[0]}
          </button>
        ))}
      </div>
      <div class="emoji-grid" id="emoji-grid" role="tabpanel" aria-label={t(`composer.emoji.${group}`)}>
        {emojiList(group).map((e) => (
          <button type="button" key={e} aria-label={e} onClick={() => props.onPick(e)}>
            {e}
          </button>
        ))}
      </div>
    </div>
  );
}

function Uploads(props: { roomId: number }) {
  useSignal(uploadSignal);
  const mine = uploads.filter((u) => u.roomId === props.roomId);
  if (mine.length === 0) return null;
  return (
    <ul class="uploads" aria-label={t("composer.attach")}>
      {mine.map((u) => {
        const pct = u.size ? Math.floor((u.sent / u.size) * 100) : 0;
        const name = cleanText(u.name);
        return (
          <li class="upload" key={u.id} data-testid="upload">
            <span class="file-icon" aria-hidden="true">
              {u.kind === "image" ? "IMG" : u.kind === "video" ? "VID" : "FILE"}
            </span>
            {u.status === "error" ? (
              <>
                <span class="upload-error" role="alert">
                  <bdi>{name}</bdi> — {t("upload.failed", { reason: u.error ?? "" })}
                </span>
                <button type="button" class="btn small ghost" onClick={() => dismissUpload(u.id)}>
                  {t("common.dismiss")}
                </button>
              </>
            ) : (
              <>
                <bdi class="upload-name">{name}</bdi>
                <progress max={100} value={pct} aria-label={t("upload.progress", { name, percent: pct })} />
                <span class="muted">
                  {u.status === "waiting" ? t("upload.paused") : `${pct}%`} · {formatBytes(u.size)}
                </span>
                <button type="button" class="btn small ghost" onClick={() => cancelUpload(u.id)} aria-label={`${t("upload.cancel")}: ${name}`}>
                  {t("common.cancel")}
                </button>
              </>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function Composer(props: { roomId: number; disabled: boolean; onSent: () => void }) {
  const [text, setText] = useState("");
  const [emoji, setEmoji] = useState(false);
  const [dragging, setDragging] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // A draft per room, kept while switching conversations.
  useEffect(() => {
    setText(drafts.get(props.roomId) ?? "");
    setEmoji(false);
  }, [props.roomId]);

  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 180)}px`;
  }, [text]);

  const update = (v: string) => {
    setText(v);
    drafts.set(props.roomId, v);
    if (v.trim()) gateway.typing(props.roomId);
  };

  const send = () => {
    const body = text.trim();
    if (!body || props.disabled) return;
    gateway.send(props.roomId, "text", body);
    update("");
    props.onSent();
  };

  const files = (list: FileList | File[] | null | undefined) => {
    if (!list || props.disabled) return;
    for (const f of Array.from(list)) startUpload(props.roomId, f);
    props.onSent();
  };

  const insertEmoji = (e: string) => {
    const el = area.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + e + text.slice(end);
    update(next);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(start + e.length, start + e.length);
    });
  };

  return (
    <div
      class={dragging ? "composer dragging" : "composer"}
      onDragOver={(e) => {
        if (e.dataTransfer?.types.includes("Files")) {
          e.preventDefault();
          setDragging(true);
        }
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        files(e.dataTransfer?.files);
      }}
    >
      <Uploads roomId={props.roomId} />
      {dragging && <p class="sr-only" aria-live="polite">{t("composer.drop")}</p>}
      {emoji && <EmojiPicker onPick={insertEmoji} onClose={() => setEmoji(false)} />}
      <div class="composer-row">
        <button type="button" class="icon-btn emoji-toggle" aria-label={t("composer.emoji")} aria-expanded={emoji} title={t("composer.emoji")} onClick={() => setEmoji(!emoji)} disabled={props.disabled}>
          <IconSmile />
        </button>
        <button type="button" class="icon-btn" aria-label={t("composer.attach")} title={t("composer.attach")} onClick={() => fileInput.current?.click()} disabled={props.disabled}>
          <IconClip />
        </button>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          aria-label={t("composer.attach")}
          onChange={(e) => {
            const input = e.currentTarget as HTMLInputElement;
            files(input.files);
            input.value = "";
          }}
        />
        <label for="composer-input" class="sr-only">
          {t("composer.label")}
        </label>
        <span id="composer-hint" class="sr-only">
          {t("composer.hint")}
        </span>
        <textarea
          id="composer-input"
          ref={area}
          rows={1}
          value={text}
          placeholder={t("composer.placeholder")}
          title={t("composer.hint")}
          aria-describedby="composer-hint"
          disabled={props.disabled}
          dir="auto"
          onInput={(e) => update((e.currentTarget as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
              e.preventDefault();
              send();
            }
          }}
          onPaste={(e) => {
            const fs = e.clipboardData?.files;
            if (fs && fs.length > 0) {
              e.preventDefault();
              files(fs);
            }
          }}
        />
        <button type="button" class="icon-btn" aria-label={t("composer.send")} title={t("composer.send")} onClick={send} disabled={props.disabled || !text.trim()}>
          <IconSend />
        </button>
      </div>
    </div>
  );
}

const drafts = new Map<number, string>();
