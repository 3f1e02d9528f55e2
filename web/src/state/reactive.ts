import { useEffect, useState } from "preact/hooks";

/** A change counter components subscribe to: the app state is plain mutable data. */
export class Signal {
  private listeners = new Set<() => void>();
  private pending = false;
  version = 0;

  /** Coalesces bursts of changes (a sync applies hundreds) into one render. */
  notify(): void {
    this.version++;
    if (this.pending) return;
    this.pending = true;
    queueMicrotask(() => {
      this.pending = false;
      this.listeners.forEach((f) => f());
    });
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => {
      this.listeners.delete(f);
    };
  }
}

export function useSignal(s: Signal | { subscribe(f: () => void): () => void }): void {
  const [, setN] = useState(0);
  useEffect(() => s.subscribe(() => setN((n) => n + 1)), [s]);
}
