import { ApiError } from "../api/http";
import { t, type MessageKey } from "../i18n";
import { dictionaries } from "../i18n";
import type { MediaKind } from "../state/uploads";

/** An error in words: our own sentence for known codes, else the server's. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === "network") return t("error.network");
    const key = `error.${e.code}` as MessageKey;
    if (key in dictionaries.en) return t(key);
    return t("common.error", { message: e.message || e.code });
  }
  return t("common.error", { message: e instanceof Error ? e.message : String(e) });
}

export function codeText(code: string, message: string): string {
  const key = `error.${code}` as MessageKey;
  if (key in dictionaries.en) return t(key);
  return t("common.error", { message: message || code });
}

/** "This file type cannot be sent as an image.": the server found other bytes than the kind claims. */
export function wrongType(kind: MediaKind): string {
  return t("upload.wrong_type", { kind: t(`upload.as.${kind}`) });
}
