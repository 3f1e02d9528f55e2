// The main story, in order, against one server: two users register, become
// friends, chat live both ways, see typing and read receipts, send an image
// and a big file cut off mid-upload, revoke, favorite, delete for me, make a
// group with a third user, and live through a server crash and restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  connState,
  duplicates,
  expectMessageCount,
  makePng,
  messages,
  newUserPage,
  openConversation,
  sendText,
  uname,
  waitUntil,
  setOffline,
  throttleUpload,
  unthrottle,
  watchProgress,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";

describe("main story", () => {
  let server;
  let browser;
  let A; // alice: { context, page }
  let B; // bob
  let C; // carol
  const alice = { username: uname("alice"), password: "alice-pass-1", nickname: "Alice" };
  const bob = { username: uname("bob"), password: "bob-pass-12", nickname: "Bob" };
  let directRoomId;

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    A = await newUserPage(browser, server);
    B = await newUserPage(browser, server);
  });

  after(() => stopServerAndBrowser(server, browser));

  async function registerUI(page, u) {
    await page.goto("/register");
    await page.getByLabel("Username").fill(u.username);
    await page.getByLabel("Password").fill(u.password);
    await page.getByLabel("Nickname (optional)").fill(u.nickname);
    await page.getByRole("button", { name: "Create account" }).click();
    await connState(page, "online");
    await page.getByText(u.nickname, { exact: true }).first().waitFor();
  }

  test("two users register in two browser contexts", async () => {
    await registerUI(A.page, alice);
    await registerUI(B.page, bob);
    await A.page.getByText("No conversations yet", { exact: false }).waitFor();
  });

  test("friend request with a note, accepted live", async () => {
    const a = A.page;
    await a.getByRole("link", { name: "Friends" }).click();
    await a.getByLabel("Username or nickname").fill(bob.username);
    await a.getByRole("button", { name: "Search" }).click();
    await a.getByRole("button", { name: "Add friend: Bob" }).click();
    await a.getByLabel("Note to them").fill("Hi Bob, it's Alice");
    await a.getByRole("button", { name: "Send request" }).click();
    await a.getByText("Friend request sent.").waitFor();

    const b = B.page;
    // Bob is on the chat list; the request shows up live as a badge and on the friends page.
    await b.locator(".nav-badge").filter({ hasText: "1" }).waitFor();
    await b.getByRole("link", { name: /Friends/ }).click();
    const req = b.locator('[data-testid="friend-request"]').filter({ hasText: "Alice" });
    await req.getByText("Hi Bob, it's Alice").waitFor();
    await b.getByRole("button", { name: "Accept: Alice" }).click();
    await b.locator('[data-testid="friend"]').filter({ hasText: "Alice" }).waitFor();
    await waitUntil(async () => (await req.count()) === 0, { message: "the request to leave the list" });

    // The direct room opens for both, live.
    await a.getByRole("link", { name: "Chats" }).click();
    await a.locator('[data-testid="conversation"]').filter({ hasText: "Bob" }).waitFor();
    await b.getByRole("link", { name: "Chats" }).click();
    await b.locator('[data-testid="conversation"]').filter({ hasText: "Alice" }).waitFor();
    directRoomId = Number(await a.locator('[data-testid="conversation"]').filter({ hasText: "Bob" }).getAttribute("data-room-id"));
    assert.ok(directRoomId > 0);
  });

  test("chat live both ways", async () => {
    await openConversation(A.page, "Bob");
    await openConversation(B.page, "Alice");
    await sendText(A.page, "Hello Bob, from Alice");
    await expectMessageCount(A.page, "Hello Bob, from Alice", 1);
    await expectMessageCount(B.page, "Hello Bob, from Alice", 1);
    await sendText(B.page, "Hi Alice! Bob here");
    await expectMessageCount(B.page, "Hi Alice! Bob here", 1);
    await expectMessageCount(A.page, "Hi Alice! Bob here", 1);
    // Pending then confirmed: every own message has a seq once acked.
    const mine = A.page.locator('[data-testid="message"][data-mine="true"]');
    assert.ok((await mine.first().getAttribute("data-seq")) !== null);
  });

  test("typing indicator and read receipt", async () => {
    // Bob keeps typing, a key every 150 ms, as a person would (the client
    // announces typing at most every few seconds, so a burst right after a
    // send may be folded into the previous bout).
    const box = B.page.locator("#composer-input");
    const indicator = A.page.locator('[data-testid="typing"]').filter({ hasText: "Bob is typing…" });
    await waitUntil(
      async () => {
        await box.press("a");
        return indicator.isVisible();
      },
      { timeout: 10_000, interval: 150, message: "Alice to see that Bob is typing" },
    );
    await box.fill("");

    await sendText(A.page, "Did you read this?");
    await expectMessageCount(B.page, "Did you read this?", 1);
    // Bob has the room open at the bottom: Alice sees "Read" on her message.
    await messages(A.page, "Did you read this?").getByTestId("receipt").filter({ hasText: /^Read$/ }).waitFor();
  });

  test("image sent with progress, seen by both", async () => {
    const a = A.page;
    await throttleUpload(a, 400 * 1024);
    const seen = await watchProgress(a);
    const png = makePng(640, 480, true);
    await a.locator('input[type="file"]').setInputFiles({ name: "sunset.png", mimeType: "image/png", buffer: png });
    await a.locator('[data-testid="upload"]').filter({ hasText: "sunset.png" }).waitFor();
    for (const p of [A.page, B.page]) {
      await p.locator('[data-testid="message"][data-kind="image"] img[alt="Image: sunset.png"]').waitFor({ timeout: 20_000 });
      await waitUntil(() => p.locator('img[alt="Image: sunset.png"]').evaluate((img) => img.complete && img.naturalWidth > 0), { message: "the thumbnail to load" });
    }
    await unthrottle(a);
    const values = await seen();
    assert.ok(values.some((v) => v > 0 && v < 100), `progress between 0 and 100 was shown (saw ${JSON.stringify(values)})`);
    await waitUntil(async () => (await a.locator('[data-testid="upload"]').count()) === 0, { message: "the upload row to go" });
  });

  test("network cut mid-upload, then resume: the file arrives once", async () => {
    const a = A.page;
    const name = "archive-12mb.bin";
    const size = 12 * 1024 * 1024;
    const big = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    await throttleUpload(a, 2 * 1024 * 1024);
    await a.locator('input[type="file"]').setInputFiles({ name, mimeType: "application/octet-stream", buffer: big });
    const row = a.locator('[data-testid="upload"]').filter({ hasText: name });
    const bar = row.locator("progress");
    const value = () => bar.evaluate((p) => p.value).catch(() => -1);
    await waitUntil(async () => {
      const v = await value();
      return v > 0 && v < 60;
    }, { timeout: 20_000, interval: 20, message: "the upload to be under way" });

    await setOffline(a, true);
    try {
    await row.getByText("Waiting for the network…").waitFor({ timeout: 15_000 });
    const stopped = await value();
    assert.ok(stopped > 0 && stopped < 100, `progress when cut: ${stopped}`);
    // Offline for a while: the bar stays where it was.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      assert.equal(await value(), stopped, "progress moved while offline");
      await new Promise((r) => setTimeout(r, 100));
    }
    await a.locator('[data-testid="connection-state"][data-state="offline"]').waitFor();

    } finally {
      await setOffline(a, false);
      await unthrottle(a);
    }
    await connState(a, "online");
    for (const p of [A.page, B.page]) {
      await waitUntil(async () => (await messages(p, name).count()) === 1 && (await messages(p, name).getAttribute("data-pending")) !== "true", {
        timeout: 30_000,
        message: `the file message on ${p === a ? "Alice's" : "Bob's"} page`,
      });
    }
    assert.equal(await a.locator('[data-testid="upload"]').count(), 0, "no upload row left");
    // Exactly once on the server too.
    const me = await server.api("POST", "/auth/login", { username: alice.username, password: alice.password });
    const page = await server.api("GET", `/rooms/${directRoomId}/messages?limit=100`, undefined, me.token);
    const files = page.items.filter((m) => m.kind === "file" && m.file?.name === name);
    assert.equal(files.length, 1, "one file message on the server");
    assert.equal(files[0].file.size, size, "the whole file was stored");
    // Still exactly once after the dust settles (a late retry would show up now).
    await expectMessageCount(B.page, name, 1);
  });

  test("revoke: the message goes for both, a notice replaces it", async () => {
    await sendText(A.page, "Oops, wrong chat");
    await expectMessageCount(B.page, "Oops, wrong chat", 1);
    const m = messages(A.page, "Oops, wrong chat");
    await m.getByRole("button", { name: "More actions" }).click();
    await m.getByRole("button", { name: "Revoke" }).click();
    for (const p of [A.page, B.page]) {
      await waitUntil(async () => (await messages(p, "Oops, wrong chat").count()) === 0, { message: "the revoked text to disappear" });
      await p.locator('[data-testid="message"][data-kind="system"]').filter({ hasText: /revoked a message/ }).first().waitFor();
    }
  });

  test("favorite: a message is kept in Favorites", async () => {
    const b = B.page;
    const m = messages(b, "Hello Bob, from Alice");
    await m.getByRole("button", { name: "More actions" }).click();
    await m.getByRole("button", { name: "Add to favorites" }).click();
    await b.getByText("Added to favorites").first().waitFor();
    await m.getByLabel("Favorites").waitFor();
    await b.getByRole("link", { name: "Favorites" }).click();
    await b.getByText("Hello Bob, from Alice").waitFor();
    await b.goBack();
    await b.locator("#chat-title").filter({ hasText: "Alice" }).waitFor();
  });

  test("delete for me: gone for Bob, still there for Alice", async () => {
    const b = B.page;
    const m = messages(b, "Did you read this?");
    await m.getByRole("button", { name: "More actions" }).click();
    await m.getByRole("button", { name: "Delete for me" }).click();
    // Confirmed in an in-app dialog, which says the others still see it.
    const confirm = b.getByRole("dialog", { name: "Delete for me" });
    await confirm.getByText("Others still see it").waitFor();
    await confirm.getByRole("button", { name: "Delete for me" }).click();
    await confirm.waitFor({ state: "detached" });
    await waitUntil(async () => (await messages(b, "Did you read this?").count()) === 0, { message: "the message to be deleted for Bob" });
    await b.reload();
    await b.locator("#chat-title").filter({ hasText: "Alice" }).waitFor();
    await expectMessageCount(b, "Hello Bob, from Alice", 1);
    assert.equal(await messages(b, "Did you read this?").count(), 0, "still deleted after reload");
    await expectMessageCount(A.page, "Did you read this?", 1);
  });

  test("a group with a third user", async () => {
    const carol = await server.user(uname("carol"), "Carol", "carol-pass-1");
    const aliceId = (await server.api("POST", "/auth/login", { username: alice.username, password: alice.password })).user.id;
    await server.befriend(carol, { id: aliceId, token: (await server.api("POST", "/auth/login", { username: alice.username, password: alice.password })).token });
    C = await newUserPage(browser, server);
    await C.page.goto("/login");
    await C.page.getByLabel("Username").fill(carol.username);
    await C.page.getByLabel("Password").fill(carol.password);
    await C.page.getByRole("button", { name: "Log in" }).first().click();
    await connState(C.page, "online");

    const a = A.page;
    await a.getByRole("button", { name: "New group" }).click();
    const dialog = a.getByRole("dialog");
    await dialog.getByLabel("Group name").fill("Weekend trip");
    await dialog.getByRole("checkbox", { name: "Bob" }).check();
    await dialog.getByRole("checkbox", { name: "Carol" }).check();
    await dialog.getByRole("button", { name: "Create group" }).click();
    await a.locator("#chat-title").filter({ hasText: "Weekend trip" }).waitFor();
    await a.getByText("3 members").waitFor();

    await sendText(a, "Who's in for Saturday?");
    for (const p of [B.page, C.page]) {
      await openConversation(p, "Weekend trip");
      await expectMessageCount(p, "Who's in for Saturday?", 1);
    }
    await sendText(C.page, "Me! — Carol");
    await expectMessageCount(a, "Me! — Carol", 1);
    await expectMessageCount(B.page, "Me! — Carol", 1);
    // Group receipts: "Read by" lists both readers (groups get no live read
    // events; the dialog asks the server), and the count follows.
    const receipt = messages(a, "Who's in for Saturday?").getByTestId("receipt");
    await waitUntil(
      async () => {
        await receipt.click();
        const readers = a.getByRole("dialog").getByRole("list", { name: "Read by" });
        await readers.waitFor();
        const text = await readers.innerText();
        await a.getByRole("dialog").getByRole("button", { name: "Close" }).click();
        await a.getByRole("dialog").waitFor({ state: "detached" });
        return text.includes("Bob") && text.includes("Carol");
      },
      { timeout: 10_000, interval: 200, message: "Bob and Carol in the Read by list" },
    );
    await receipt.filter({ hasText: "2 read" }).waitFor();
    await C.context.close();
    C = null;
  });

  test("the server is killed and restarted: both reconnect and catch up, no duplicates", async () => {
    const a = A.page;
    const b = B.page;
    await openConversation(a, "Bob");
    await openConversation(b, "Alice");
    await expectMessageCount(b, "Hi Alice! Bob here", 1);

    await server.kill();
    await connState(a, "reconnecting");
    await connState(b, "reconnecting");

    // Typed while the server is down: shown as pending, sent once it is back.
    await sendText(a, "Sent while the server was down");
    const pending = messages(a, "Sent while the server was down");
    await pending.waitFor();
    assert.equal(await pending.getAttribute("data-pending"), "true");
    await sendText(b, "Bob also wrote during the outage");

    await server.spawn();
    await connState(a, "online", 30_000);
    await connState(b, "online", 30_000);

    await expectMessageCount(a, "Sent while the server was down", 1, 20_000);
    await expectMessageCount(b, "Sent while the server was down", 1, 20_000);
    await expectMessageCount(a, "Bob also wrote during the outage", 1, 20_000);
    await expectMessageCount(b, "Bob also wrote during the outage", 1, 20_000);

    await sendText(b, "And after the restart");
    await expectMessageCount(a, "And after the restart", 1);
    await sendText(a, "Got it");
    await expectMessageCount(b, "Got it", 1);

    // Stored once on the server, too.
    const me = await server.api("POST", "/auth/login", { username: alice.username, password: alice.password });
    const history = await server.api("GET", `/rooms/${directRoomId}/messages?limit=100`, undefined, me.token);
    for (const body of ["Sent while the server was down", "Bob also wrote during the outage", "And after the restart", "Got it"]) {
      assert.equal(history.items.filter((m) => m.body === body).length, 1, `${JSON.stringify(body)} stored once`);
    }

    for (const [who, p] of [["Alice", a], ["Bob", b]]) {
      const d = await duplicates(p);
      assert.deepEqual(d, { seq: [], clientId: [] }, `${who}'s view has duplicates`);
      // The earlier history is all there, once.
      await expectMessageCount(p, "Hello Bob, from Alice", 1);
      await expectMessageCount(p, "archive-12mb.bin", 1);
    }
    // After a reload too (the catch-up and the stored history agree).
    await a.reload();
    await connState(a, "online");
    await a.locator("#chat-title").filter({ hasText: "Bob" }).waitFor();
    await expectMessageCount(a, "Sent while the server was down", 1);
    assert.deepEqual(await duplicates(a), { seq: [], clientId: [] });
    assert.deepEqual(A.page.errors, [], "no page errors for Alice");
    assert.deepEqual(B.page.errors, [], "no page errors for Bob");
  });
});
