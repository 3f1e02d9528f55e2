import { useState } from "preact/hooks";
import type { LoggedIn, Registered } from "../api/wire";
import { request } from "../api/http";
import { clearEndReason, startSession, takeEndReason } from "../api/session";
import { dictionaries, getLang, t, type MessageKey } from "../i18n";
import { linkClick, navigate } from "../router";
import { useLang } from "./i18n";
import { LangSwitch } from "./LangSwitch";
import { FormError, useSubmit, type FieldErrors } from "./form";

const FIELD_RULES: Record<string, MessageKey> = {
  username: "auth.username.hint",
  password: "auth.password.hint",
  nickname: "auth.nickname.hint",
};

/** The server explains field errors in English; other languages show the field's rule instead. */
function localized(fields: FieldErrors): FieldErrors {
  if (getLang() === "en") return fields;
  const out: FieldErrors = {};
  for (const [k, v] of Object.entries(fields)) out[k] = FIELD_RULES[k] ? t(FIELD_RULES[k]) : v;
  return out;
}

/** The link between the login and register pages. */
function AuthSwitch({ href, label }: { href: string; label: string }) {
  return (
    <p class="auth-switch">
      <a href={href} onClick={(e) => linkClick(e, href)}>
        {label}
      </a>
    </p>
  );
}

function Field(props: {
  id: string;
  label: string;
  type?: "text" | "password";
  value: string;
  onInput: (v: string) => void;
  error?: string;
  hint?: string;
  autoComplete?: string;
  required?: boolean;
}) {
  const describedBy = [props.hint ? `${props.id}-hint` : "", props.error ? `${props.id}-error` : ""].filter(Boolean).join(" ");
  const common = {
    id: props.id,
    name: props.id,
    value: props.value,
    autoComplete: props.autoComplete,
    required: props.required,
    "aria-invalid": props.error ? ("true" as const) : undefined,
    "aria-describedby": describedBy || undefined,
    onInput: (e: Event) => props.onInput((e.currentTarget as HTMLInputElement).value),
  };
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.type === "password" ? <input type="password" {...common} /> : <input type="text" {...common} />}
      {props.hint && (
        <p class="field-hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={`${props.id}-error`} role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

function endMessage(): string | null {
  const r = takeEndReason();
  if (!r) return null;
  const key = `auth.ended.${r}` as MessageKey;
  return key in dictionaries.en ? t(key) : t("auth.ended.unauthenticated");
}

async function login(username: string, password: string): Promise<void> {
  const res = await request<LoggedIn>("POST", "/auth/login", { username, password }, { auth: false });
  startSession(res.token, res.user);
}

function AuthFrame(props: { title: string; children: preact.ComponentChildren }) {
  return (
    <div class="auth-page">
      <header class="auth-top">
        <span class="brand" aria-hidden="true">
          <img src="/favicon.svg" alt="" width={28} height={28} />
        </span>
        <LangSwitch />
      </header>
      <main class="auth-card" id="main">
        <h1>{t("app.name")}</h1>
        <p class="tagline">{t("auth.tagline")}</p>
        <h2>{props.title}</h2>
        {props.children}
      </main>
    </div>
  );
}

function GuestForm() {
  const [nickname, setNickname] = useState("");
  const { busy, err, general, submit } = useSubmit(async () => {
    const res = await request<LoggedIn>("POST", "/auth/guest", { nickname }, { auth: false });
    clearEndReason();
    startSession(res.token, res.user);
    navigate("/", true);
  }, (x) => localized(x.fields));
  return (
    <form class="guest-form" onSubmit={submit} aria-labelledby="guest-title" noValidate>
      <h3 id="guest-title">{t("auth.guest.title")}</h3>
      <Field id="guest-nickname" label={t("auth.guest.nickname")} value={nickname} onInput={setNickname} error={err.nickname} autoComplete="nickname" required />
      <FormError text={general} />
      <button type="submit" class="btn secondary" disabled={busy || !nickname.trim()}>
        {t("auth.guest.submit")}
      </button>
    </form>
  );
}

export function LoginPage() {
  useLang();
  const [ended] = useState(endMessage);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const { busy, err, general, submit } = useSubmit(async () => {
    await login(username, password);
    navigate("/", true);
  }, (x) => localized(x.fields));
  return (
    <AuthFrame title={t("auth.login.title")}>
      {ended && (
        <p class="notice warn" role="alert">
          {ended}
        </p>
      )}
      <form onSubmit={submit} noValidate aria-label={t("auth.login.title")}>
        <Field id="username" label={t("auth.username")} value={username} onInput={setUsername} error={err.username} autoComplete="username" required />
        <Field id="password" label={t("auth.password")} type="password" value={password} onInput={setPassword} error={err.password} autoComplete="current-password" required />
        <FormError text={general} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t("auth.login.submit")}
        </button>
      </form>
      <AuthSwitch href="/register" label={t("auth.to.register")} />
      <GuestForm />
    </AuthFrame>
  );
}

export function RegisterPage() {
  useLang();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [nickname, setNickname] = useState("");
  const { busy, err, general, submit } = useSubmit(
    async () => {
      await request<Registered>("POST", "/auth/register", { username, password, nickname: nickname.trim() || null }, { auth: false });
      await login(username, password);
      navigate("/", true);
    },
    (x) => (x.code === "username_taken" ? { username: t("error.username_taken") } : localized(x.fields)),
  );
  return (
    <AuthFrame title={t("auth.register.title")}>
      <form onSubmit={submit} noValidate aria-label={t("auth.register.title")}>
        <Field id="username" label={t("auth.username")} value={username} onInput={setUsername} error={err.username} hint={t("auth.username.hint")} autoComplete="username" required />
        <Field id="password" label={t("auth.password")} type="password" value={password} onInput={setPassword} error={err.password} hint={t("auth.password.hint")} autoComplete="new-password" required />
        <Field id="nickname" label={t("auth.nickname.optional")} value={nickname} onInput={setNickname} error={err.nickname} autoComplete="nickname" />
        <FormError text={general} />
        <button type="submit" class="btn primary" disabled={busy}>
          {t("auth.register.submit")}
        </button>
      </form>
      <AuthSwitch href="/login" label={t("auth.to.login")} />
    </AuthFrame>
  );
}
