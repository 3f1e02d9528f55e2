import { afterEach, describe, expect, it, vi } from "vitest";
import type { FavoriteView, NoticeView } from "../api/wire";
import { Store } from "./store";

const changed = (message_id: number, favorite: boolean, position = 100): NoticeView => ({ type: "favorite_changed", position, message_id, favorite });
const noText = () => "";

const favorite = (id: number): FavoriteView => ({
  message: { id, room_id: 1, seq: id, sender: { id: 7, nickname: "a", avatar: null }, client_id: `c${id}`, kind: "text", body: "x", created_at: "", revoked: false },
  favorited_at: "2026-01-01T00:00:00Z",
});

/** A fetch whose answer the test releases when it chooses. */
function heldFetch(items: FavoriteView[]): () => void {
  let release: () => void = () => undefined;
  const answer = new Promise<Response>((resolve) => {
    release = () => resolve(new Response(JSON.stringify({ items, next_cursor: null }), { status: 200 }));
  });
  vi.stubGlobal("fetch", () => answer);
  return release;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("favorite changes from other devices", () => {
  it("follow the last event and bump the revision only on a change", () => {
    const s = new Store();
    s.applyNotice(changed(5, true), true, noText);
    expect(s.favorites.has(5)).toBe(true);
    expect(s.favoritesRevision).toBe(1);
    // This device's own change, already applied locally, is no news.
    s.applyNotice(changed(5, true), true, noText);
    expect(s.favoritesRevision).toBe(1);
    s.applyNotice(changed(5, false), false, noText);
    expect(s.favorites.has(5)).toBe(false);
    expect(s.favoritesRevision).toBe(2);
  });

  it("survive a favorites load that was answered before them", async () => {
    const s = new Store();
    const release = heldFetch([favorite(1), favorite(2)]);
    const load = s.loadFavorites();
    s.applyNotice(changed(2, false), true, noText);
    s.applyNotice(changed(3, true), true, noText);
    s.removeMessages([1]);
    release();
    const items = await load;
    expect(items.map((f) => f.message.id)).toEqual([1, 2]);
    expect([...s.favorites].sort()).toEqual([3]);
  });

  it("leave a later load alone", async () => {
    const s = new Store();
    s.applyNotice(changed(3, true), true, noText);
    const release = heldFetch([favorite(4)]);
    const load = s.loadFavorites();
    release();
    await load;
    expect([...s.favorites]).toEqual([4]);
  });
});
