import { describe, expect, it } from "vitest";
import { shiftNewer, shiftOlder, windowRange } from "./window";

const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);

describe("message window", () => {
  it("follows the newest messages, bounded", () => {
    expect(windowRange(keys(10_000), null)).toEqual([9850, 10_000]);
    expect(windowRange(keys(20), null)).toEqual([0, 20]);
  });

  it("never renders more than the window", () => {
    const k = keys(10_000);
    let anchor: string | null = null;
    for (let i = 0; i < 300; i++) {
      anchor = shiftOlder(k, anchor).anchor;
      const [s, e] = windowRange(k, anchor);
      expect(e - s).toBeLessThanOrEqual(150);
    }
    expect(windowRange(k, anchor)[0]).toBe(0);
  });

  it("keeps its first message when older ones are prepended", () => {
    const k = keys(400);
    const anchor = shiftOlder(k, null).anchor!;
    const [s] = windowRange(k, anchor);
    const prepended = [...Array.from({ length: 50 }, (_, i) => `old${i}`), ...k];
    const [s2] = windowRange(prepended, anchor);
    expect(prepended[s2]).toBe(k[s]);
  });

  it("returns to following the newest when scrolled back down", () => {
    const k = keys(1000);
    let anchor: string | null = null;
    for (let i = 0; i < 5; i++) anchor = shiftOlder(k, anchor).anchor;
    for (let i = 0; i < 10 && anchor !== null; i++) anchor = shiftNewer(k, anchor);
    expect(anchor).toBeNull();
  });

  it("says when it shows the oldest held message", () => {
    expect(shiftOlder(keys(100), null).atStart).toBe(true);
    expect(shiftOlder(keys(400), null).atStart).toBe(false);
  });
});
