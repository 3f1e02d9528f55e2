import { useEffect, useRef } from "preact/hooks";
import type { ComponentChildren } from "preact";

/** A native modal <dialog>: focus trapping, Escape and the backdrop come from the browser. */
export function Dialog(props: { label: string; onClose: () => void; children: ComponentChildren; class?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const prev = document.activeElement as HTMLElement | null;
    return () => prev?.focus?.();
  }, []);
  return (
    <dialog
      ref={ref}
      class={props.class}
      aria-label={props.label}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
      onClick={(e) => {
        if (e.target === ref.current) props.onClose();
      }}
    >
      {props.children}
    </dialog>
  );
}
