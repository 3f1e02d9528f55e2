import { useState } from "preact/hooks";
import type { AttachmentView } from "../api/wire";
import { formatBytes, t } from "../i18n";
import { cleanText } from "../lib/text";
import { mediaSignal, mediaUrl } from "../state/media";
import { useSignal } from "../state/reactive";
import { Dialog } from "./Dialog";
import { IconClose } from "./icons";

function extension(name: string): string {
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(name);
  return m ? m[1]!.toUpperCase() : "FILE";
}

export function FileCard(props: { name: string; size: number; href: string | null }) {
  const name = cleanText(props.name);
  const inner = (
    <>
      <span class="file-icon" aria-hidden="true">
        {extension(name)}
      </span>
      <span class="file-info">
        <bdi class="file-name">{name}</bdi>
        <span class="file-size">{formatBytes(props.size)}</span>
      </span>
    </>
  );
  if (!props.href) return <span class="file-card">{inner}</span>;
  return (
    <a class="file-card" href={props.href} download={name} aria-label={t("media.download", { name })}>
      {inner}
    </a>
  );
}

export function Attachment(props: { kind: string; file: AttachmentView; onLoad?: () => void }) {
  useSignal(mediaSignal);
  const [full, setFull] = useState(false);
  const f = props.file;
  const name = cleanText(f.name);
  if (props.kind === "image") {
    const thumb = mediaUrl(f.thumbnail_url) ?? (f.thumbnail_url ? null : mediaUrl(f.url));
    return (
      <>
        {thumb ? (
          <button type="button" class="media-btn" onClick={() => setFull(true)} aria-label={`${t("media.preview")}: ${name}`}>
            <img class="media-img" src={thumb} alt={t("media.image", { name })} loading="lazy" onLoad={props.onLoad} />
          </button>
        ) : (
          <span class="media-ph">{t("media.processing")}</span>
        )}
        {full && (
          <Dialog label={t("media.preview")} onClose={() => setFull(false)} class="lightbox">
            <img src={mediaUrl(f.url) ?? ""} alt={t("media.image", { name })} />
            <button type="button" class="icon-btn lightbox-close" aria-label={t("common.close")} onClick={() => setFull(false)}>
              <IconClose />
            </button>
          </Dialog>
        )}
      </>
    );
  }
  if (props.kind === "video") {
    const src = mediaUrl(f.url);
    return src ? (
      <video class="media-video" controls preload="metadata" poster={mediaUrl(f.cover_url) ?? undefined} src={src} aria-label={t("media.video", { name })} onLoadedMetadata={props.onLoad} />
    ) : (
      <span class="media-ph">{t("media.processing")}</span>
    );
  }
  return <FileCard name={f.name} size={f.size} href={mediaUrl(f.url)} />;
}
