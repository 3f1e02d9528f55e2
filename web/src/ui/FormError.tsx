/** A form's error that is not about one field, announced as it appears; nothing when there is none. */
export function FormError({ text }: { text: string | null | undefined }) {
  if (!text) return null;
  return (
    <p class="form-error" role="alert">
      {text}
    </p>
  );
}
