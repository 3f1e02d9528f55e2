import { useState } from "preact/hooks";
import { ApiError } from "../api/http";
import { errorText } from "./errors";

/** Field name → why the server refused it. */
export type FieldErrors = Record<string, string>;

/** A form's error that is not about one field, announced as it appears; nothing when there is none. */
export function FormError({ text }: { text: string | null | undefined }) {
  if (!text) return null;
  return (
    <p class="form-error" role="alert">
      {text}
    </p>
  );
}

/**
 * A form's submission: `busy` while `action` runs, then the server's
 * refusal as field errors (through `fields`, which may translate them)
 * or, when it names no field, as one general error in words.
 */
export function useSubmit(action: () => Promise<void>, fields: (x: ApiError) => FieldErrors = (x) => x.fields) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<FieldErrors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr({});
    setGeneral(null);
    try {
      await action();
    } catch (x) {
      const byField = x instanceof ApiError ? fields(x) : {};
      if (Object.keys(byField).length) setErr(byField);
      else setGeneral(errorText(x));
    } finally {
      setBusy(false);
    }
  };
  return { busy, err, general, submit };
}
