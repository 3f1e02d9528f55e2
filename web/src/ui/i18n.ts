import { useEffect, useState } from "preact/hooks";
import { getLang, onLangChange } from "../i18n";

/** Re-renders the caller when the language changes. */
export function useLang(): string {
  const [lang, setL] = useState(getLang());
  useEffect(() => onLangChange(() => setL(getLang())), []);
  return lang;
}
