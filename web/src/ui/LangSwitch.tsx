import { getLang, LANGS, setLang, t, type Lang } from "../i18n";
import { useLang } from "./i18n";

export function LangSwitch() {
  useLang();
  return (
    <label class="lang-switch">
      <span class="sr-only">{t("lang.label")}</span>
      <select aria-label={t("lang.label")} value={getLang()} onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}>
        {LANGS.map((l) => (
          <option value={l} lang={l} key={l}>
            {t(`lang.${l}`)}
          </option>
        ))}
      </select>
    </label>
  );
}
