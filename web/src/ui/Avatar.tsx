import { t } from "../i18n";

const COLORS = ["#2563eb", "#7c3aed", "#db2777", "#ea580c", "#16a34a", "#0891b2", "#4f46e5", "#b45309"];

function colorFor(name: string): string {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return COLORS[h % COLORS.length]!;
}

function initial(name: string): string {
  const first = [...name.trim()][0];
  return first ? first.toUpperCase() : "?";
}

/** Only same-origin or data/blob avatars are loaded; anything else shows the initial (the CSP would block it anyway). */
function safeSrc(src: string | null | undefined): string | null {
  if (!src) return null;
  if (src.startsWith("/") && !src.startsWith("//")) return src;
  return null;
}

export function Avatar(props: { name: string; src?: string | null; size?: number; online?: boolean; decorative?: boolean }) {
  const size = props.size ?? 40;
  const src = safeSrc(props.src);
  const label = props.decorative ? undefined : t("common.avatar", { name: props.name });
  return (
    <span class="avatar" style={{ width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.42)}px`, background: src ? undefined : colorFor(props.name) }} role={label ? "img" : undefined} aria-label={label} aria-hidden={label ? undefined : "true"}>
      {src ? <img src={src} alt="" width={size} height={size} /> : <span aria-hidden="true">{initial(props.name)}</span>}
      {props.online && <span class="online-dot" aria-hidden="true" />}
    </span>
  );
}
