// The XSS corpus, in every free-text field a user can fill and another user
// sees: message text and links, nickname, friend-request note, remark, group
// name and file name. Nothing may run (window.__xss stays unset, no dialog),
// the text is shown literally (bidi controls removed, by design), and links
// in messages only ever have http(s) hrefs with rel="noopener noreferrer".
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  loginUI,
  newUserPage,
  openConversation,
  uname,
  waitUntil,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";

const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
const shown = (s) => s.replace(BIDI, "");

const CORPUS = [
  "<script>window.__xss=1</script>",
  '<img src=x onerror="window.__xss=1">',
  '<svg onload="window.__xss=1">',
  "javascript:window.__xss=1",
  "[click](javascript:alert(1))",
  "<a href=\"javascript:window.__xss=1\">click me</a>",
  "\u202Eevil\u202C",
  '"><iframe src=javascript:window.__xss=1>',
  "'\"><body onload=window.__xss=1>",
  "{{constructor.constructor('window.__xss=1')()}}",
  "data:text/html,<script>window.__xss=1</script>",
  "https://example.com/\"><img src=x onerror=window.__xss=1>",
  "see http://example.org/a?b=<script>x</script> and JAVASCRIPT:window.__xss=1",
];

// Short payloads for the fields with small limits (nickname 30, remark 32, note 50).
const NICK = "<img src=x onerror=__xss=1>";
const NOTE = '<svg onload="window.__xss=1"><b>note</b>';
const REMARK = "<script>window.__xss=1</script>";
const GROUP = '"><iframe src=javascript:window.__xss=1>';
const FILE = '<img src=x onerror="window.__xss=1">.txt';

const DANGER = "iframe, embed, object, script:not([src]), [onerror], [onload], a[href^='javascript' i], a[href^='data' i], svg [onload]";

async function assertInert(page, where) {
  const state = await page.evaluate((danger) => ({ xss: window.__xss, found: [...document.querySelectorAll(danger)].map((e) => e.outerHTML.slice(0, 120)) }), DANGER);
  assert.equal(state.xss, undefined, `${where}: window.__xss was set`);
  assert.deepEqual(state.found, [], `${where}: dangerous elements in the page`);
  assert.deepEqual(page.dialogs, [], `${where}: a dialog opened`);
  assert.deepEqual(page.errors, [], `${where}: page errors`);
}

describe("XSS corpus", () => {
  let server;
  let browser;
  let mallory;
  let victim;
  let M; // mallory's browser
  let V; // victim's browser

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    const username = uname("mallory");
    await server.api("POST", "/auth/register", { username, password: "mallory-pass", nickname: NICK });
    const res = await server.api("POST", "/auth/login", { username, password: "mallory-pass" });
    mallory = { id: res.user.id, username, password: "mallory-pass", nickname: NICK, token: res.token };
    victim = await server.user(uname("victim"), "Victim", "victim-pass-1");
    V = await newUserPage(browser, server);
    M = await newUserPage(browser, server);
  });

  after(() => stopServerAndBrowser(server, browser));

  test("nickname and friend-request note", async () => {
    assert.equal((await server.api("GET", "/me", undefined, mallory.token)).nickname, NICK, "the server keeps the nickname as typed");
    await loginUI(V.page, victim);
    // Mallory asks through the UI, with the note.
    const m = M.page;
    await loginUI(m, mallory);
    await m.getByRole("link", { name: "Friends" }).click();
    await m.getByLabel("Username or nickname").fill(victim.username);
    await m.getByRole("button", { name: "Search" }).click();
    await m.getByRole("button", { name: "Add friend: Victim" }).click();
    await m.getByLabel("Note to them").fill(NOTE);
    await m.getByRole("button", { name: "Send request" }).click();
    await m.getByText("Friend request sent.").waitFor();
    await assertInert(m, "mallory's friends page");
    const v = V.page;
    await v.getByRole("link", { name: /Friends/ }).click();
    const req = v.locator('[data-testid="friend-request"]');
    await req.waitFor();
    const lines = await req.locator("bdi").allInnerTexts();
    assert.ok(lines.includes(NICK), `nickname shown literally: ${JSON.stringify(lines)}`);
    assert.ok(lines.includes(shown(NOTE)), `note shown literally: ${JSON.stringify(lines)}`);
    await assertInert(v, "friend request");
    await v.getByRole("button", { name: `Accept: ${NICK}` }).click();
    await v.locator('[data-testid="friend"]').filter({ hasText: NICK }).waitFor();
    await assertInert(v, "friends list");
  });

  test("remark", async () => {
    const v = V.page;
    await v.getByRole("button", { name: `Edit name: ${NICK}` }).click();
    await v.getByLabel("Your name for them").fill(REMARK);
    await v.getByRole("button", { name: "Save" }).click();
    const row = v.locator('[data-testid="friend"]').filter({ hasText: REMARK });
    await row.waitFor();
    assert.equal(await row.locator(".row-title bdi").innerText(), REMARK);
    await v.getByRole("link", { name: "Chats" }).click();
    const conv = v.locator('[data-testid="conversation"]').filter({ hasText: REMARK });
    await conv.waitFor();
    assert.equal(await conv.locator(".conv-name").innerText(), REMARK);
    await conv.click();
    assert.equal(await v.locator("#chat-title").innerText(), REMARK);
    await assertInert(v, "remark");
  });

  test("message texts and links", async () => {
    await M.page.getByRole("link", { name: "Chats" }).click();
    await openConversation(M.page, "Victim");
    for (const p of CORPUS) {
      await M.page.locator("#composer-input").fill(p);
      await M.page.locator("#composer-input").press("Enter");
    }
    const v = V.page;
    const bubbles = v.locator('[data-testid="message"][data-kind="text"] .bubble');
    await waitUntil(async () => (await bubbles.count()) === CORPUS.length, { timeout: 15_000, message: "every payload to arrive" });
    const texts = await bubbles.allInnerTexts();
    assert.deepEqual(texts, CORPUS.map(shown), "every payload shown literally, in order");
    for (const el of [M.page, v]) {
      const links = await el.locator('[data-testid="message"] a').evaluateAll((as) => as.map((a) => ({ href: a.getAttribute("href"), rel: a.getAttribute("rel"), text: a.textContent })));
      assert.ok(links.length >= 2, `the http(s) URLs became links: ${JSON.stringify(links)}`);
      for (const l of links) {
        assert.match(l.href, /^https?:\/\//, `link href ${l.href}`);
        const rel = (l.rel ?? "").split(/\s+/);
        assert.ok(rel.includes("noopener") && rel.includes("noreferrer"), `rel of ${l.href}: ${l.rel}`);
        assert.ok(!/[<>"]/.test(new URL(l.href).host), `host of ${l.href}`);
      }
      await assertInert(el, el === v ? "victim's chat" : "sender's chat");
    }
    // The conversation list preview of the last one, too.
    await v.getByRole("link", { name: "Chats" }).click();
    await v.locator('[data-testid="conversation"] .conv-preview').filter({ hasText: /and JAVASCRIPT:window/ }).waitFor();
    await assertInert(v, "conversation list");
  });

  test("group name", async () => {
    const m = M.page;
    await m.getByRole("button", { name: "New group" }).click();
    const dialog = m.getByRole("dialog");
    await dialog.getByLabel("Group name").fill(GROUP);
    await dialog.getByRole("checkbox").first().check();
    await dialog.getByRole("button", { name: "Create group" }).click();
    await m.locator("#chat-title").filter({ hasText: GROUP }).waitFor();
    const v = V.page;
    const conv = v.locator('[data-testid="conversation"]').filter({ hasText: GROUP });
    await conv.waitFor();
    assert.equal(await conv.locator(".conv-name").innerText(), GROUP);
    await conv.click();
    assert.equal(await v.locator("#chat-title").innerText(), GROUP);
    // The system notice names the group too.
    await v.locator('[data-testid="message"][data-kind="system"]').filter({ hasText: GROUP }).waitFor();
    await assertInert(v, "group");
    await assertInert(m, "group (creator)");
  });

  test("file name", async () => {
    const m = M.page;
    await m.locator('input[type="file"]').setInputFiles({ name: FILE, mimeType: "text/plain", buffer: Buffer.from("just text\n") });
    const v = V.page;
    const msg = v.locator('[data-testid="message"][data-kind="file"]');
    await msg.waitFor({ timeout: 15_000 });
    await msg.locator(".file-name").filter({ hasText: FILE }).waitFor();
    assert.equal(await msg.locator(".file-name").innerText(), FILE);
    const link = msg.locator("a.file-card");
    assert.match(await link.getAttribute("href"), /^\/api\/v1\/files\/\d+/);
    assert.equal(await link.getAttribute("download"), FILE);
    await v.getByRole("link", { name: "Chats" }).click();
    await v.locator('[data-testid="conversation"]').filter({ hasText: GROUP }).waitFor();
    await assertInert(v, "file");
    await assertInert(m, "file (sender)");
    // Nothing ran in either browser, ever.
    await waitUntil(async () => (await v.evaluate(() => window.__xss)) === undefined && (await m.evaluate(() => window.__xss)) === undefined, { timeout: 1000 });
  });
});
