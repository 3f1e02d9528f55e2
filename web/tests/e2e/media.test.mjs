// Media in a direct chat, as the two people in it see it: a video sent
// through the composer (progress, then a player with its cover frame and a
// source that serves ranges), an image (thumbnail, full-size preview,
// Escape), a plain file (name, size, a download link giving the bytes sent),
// an upload cancelled mid-way (nothing is sent), and, on a server with a
// small upload limit and quota, files refused in words (too large, quota
// full, not the type it claims), with nothing sent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  expectMessageCount,
  loginUI,
  makePng,
  messages,
  newUserPage,
  openConversation,
  sendText,
  throttleUpload,
  uname,
  unthrottle,
  waitUntil,
  watchProgress,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";

/**
 * A 2-second 320×240 H.264 video made by ffmpeg (a real file, so the server
 * can take its cover frame), with film grain so it weighs about 260 kB.
 */
async function makeVideo() {
  const dir = await mkdtemp(path.join(tmpdir(), "roomy-e2e-video-"));
  try {
    const out = path.join(dir, "clip.mp4");
    await promisify(execFile)("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=10", "-vf", "noise=alls=10:allf=t", "-pix_fmt", "yuv420p", out]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes that do not compress, so throttled uploads take the time their size says. */
function noise(size) {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ (i >>> 7)) >>> 0, i);
  return b;
}

/**
 * Loads `url` in the page (its origin, the same URL the page uses) and
 * returns what the server answered. `no-store`: the player's own range
 * requests are in the HTTP cache, and Chromium may answer a plain request
 * for the same URL with a cached 206.
 */
function pageFetch(page, url, headers = {}) {
  return page.evaluate(
    async ({ url, headers }) => {
      const r = await fetch(url, { headers, cache: "no-store" });
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get("content-type"), range: r.headers.get("content-range"), length: bytes.length, bytes: Array.from(bytes) };
    },
    { url, headers },
  );
}

/**
 * Sends a text from `from` and waits until `to` shows it: anything sent
 * before it (a message that should not exist) would have arrived by then.
 */
async function settle(from, to, text) {
  await sendText(from, text);
  await expectMessageCount(to, text, 1);
  await expectMessageCount(from, text, 1);
}

/** Two friends, each logged in in their own browser context, with their direct chat open. */
async function twoFriends(server, browser) {
  const alice = await server.user(uname("alice"), "Alice", "alice-pass-1");
  const bob = await server.user(uname("bob"), "Bob", "bob-pass-12");
  await server.befriend(alice, bob);
  const room = await server.direct(alice, bob);
  await server.sendText(bob, room.id, "Send me the clip when you can");
  const A = await newUserPage(browser, server);
  const B = await newUserPage(browser, server);
  await loginUI(A.page, alice);
  await loginUI(B.page, bob);
  await openConversation(A.page, "Bob");
  await openConversation(B.page, "Alice");
  // Both have the chat's history in view before anything is counted.
  await expectMessageCount(A.page, "Send me the clip when you can", 1);
  await expectMessageCount(B.page, "Send me the clip when you can", 1);
  return { alice, bob, room, A, B };
}

describe("media: video, image, file, cancel", () => {
  let server;
  let browser;
  let A; // Alice, the sender
  let B; // Bob, the receiver
  let alice;
  let room;

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    ({ alice, room, A, B } = await twoFriends(server, browser));
  });

  after(() => stopServerAndBrowser(server, browser));

  test("a video: progress for the sender; a player with its cover and a source that serves ranges for the receiver", async () => {
    const a = A.page;
    const b = B.page;
    const video = await makeVideo();
    // ~260 kB at 160 kB/s: the bar is on screen for over a second.
    await throttleUpload(a, 160 * 1024);
    const seen = await watchProgress(a);
    try {
      await a.locator('input[type="file"]').setInputFiles({ name: "clip.mp4", mimeType: "video/mp4", buffer: video });
      const row = a.locator('[data-testid="upload"]').filter({ hasText: "clip.mp4" });
      await row.waitFor();
      assert.equal(await row.locator("progress").count(), 1, "the upload row has a progress bar");
      // The sender's own message replaces the row.
      await a.locator('[data-testid="message"][data-kind="video"]:not([data-pending]) video[aria-label="Video: clip.mp4"]').waitFor({ timeout: 20_000 });
    } finally {
      await unthrottle(a);
    }
    const values = await seen();
    assert.ok(values.some((v) => v > 0 && v < 100), `progress between 0 and 100 was shown (saw ${JSON.stringify(values)})`);
    await waitUntil(async () => (await a.locator('[data-testid="upload"]').count()) === 0, { message: "the upload row to go" });

    // Bob: a player with controls; its poster (the cover frame) shows once the server's job has made it.
    const player = b.locator('[data-testid="message"][data-kind="video"] video[aria-label="Video: clip.mp4"]');
    await player.waitFor({ timeout: 15_000 });
    assert.equal(await player.evaluate((v) => v.controls), true, "the video has controls");
    const poster = await waitUntil(() => player.evaluate((v) => v.getAttribute("poster")), { timeout: 20_000, message: "the cover to be set as the poster" });
    assert.match(poster, /^\/api\/v1\/files\/\d+\/cover[^?]*\?(.*&)?mt=/, "the poster is the file's cover, with a media token");
    const cover = await pageFetch(b, poster);
    assert.equal(cover.status, 200, "the cover loads");
    assert.match(cover.type ?? "", /^image\//, "the cover is an image");
    // And the browser can draw it (a probe image with the same URL).
    const probe = await b.evaluate(
      (u) =>
        new Promise((resolve) => {
          const img = new Image();
          img.onload = () => resolve({ w: img.naturalWidth, h: img.naturalHeight });
          img.onerror = () => resolve(null);
          img.src = u;
        }),
      poster,
    );
    assert.ok(probe && probe.w > 0 && probe.h > 0, `the cover decodes as an image (${JSON.stringify(probe)})`);

    // The source: the whole file with a plain request, a range with a Range header.
    const src = await player.evaluate((v) => v.getAttribute("src"));
    assert.match(src, /^\/api\/v1\/files\/\d+\?(.*&)?mt=/, "the source is the file, with a media token");
    const whole = await pageFetch(b, src);
    assert.equal(whole.status, 200, "the video source answers");
    assert.equal(whole.length, video.length, "the whole video comes back");
    assert.ok(Buffer.from(whole.bytes).equals(video), "the bytes are those sent");
    const part = await pageFetch(b, src, { Range: "bytes=100-199" });
    assert.equal(part.status, 206, "a Range request gets a partial answer");
    assert.equal(part.range, `bytes 100-199/${video.length}`);
    assert.ok(Buffer.from(part.bytes).equals(video.subarray(100, 200)), "the range holds the bytes asked for");

    // The player reads the video (its metadata: 2 seconds, 320×240).
    const meta = await waitUntil(
      () => player.evaluate((v) => (v.readyState >= 1 ? { d: v.duration, w: v.videoWidth, h: v.videoHeight } : v.error ? { error: v.error.code } : null)),
      { timeout: 10_000, message: "the player to read the video's metadata" },
    );
    assert.ok(!meta.error, `the player could not read the video (MediaError ${meta.error})`);
    assert.ok(Math.abs(meta.d - 2) < 0.3 && meta.w === 320 && meta.h === 240, `the player sees the video (${JSON.stringify(meta)})`);
  });

  test("an image: the thumbnail opens a full-size preview, Escape closes it", async () => {
    const a = A.page;
    const b = B.page;
    const png = makePng(800, 600);
    await a.locator('input[type="file"]').setInputFiles({ name: "harbour.png", mimeType: "image/png", buffer: png });
    const thumb = b.locator('[data-testid="message"][data-kind="image"] img[alt="Image: harbour.png"]');
    await thumb.waitFor({ timeout: 15_000 });
    // Until the server's job has made the thumbnail the message shows the image itself; then the thumbnail.
    const thumbWidth = await waitUntil(
      () => thumb.evaluate((img) => /\/thumbnail/.test(img.getAttribute("src") ?? "") && img.complete && img.naturalWidth > 0 && img.naturalWidth),
      { timeout: 20_000, message: "the thumbnail to load" },
    );
    assert.ok(thumbWidth < 800, `the message shows a smaller thumbnail (${thumbWidth} px wide)`);

    await b.getByRole("button", { name: "Full-size image: harbour.png" }).click();
    const dialog = b.getByRole("dialog", { name: "Full-size image" });
    await dialog.waitFor();
    const full = dialog.locator('img[alt="Image: harbour.png"]');
    const size = await waitUntil(() => full.evaluate((img) => img.complete && img.naturalWidth > 0 && { w: img.naturalWidth, h: img.naturalHeight }), {
      message: "the full-size image to load",
    });
    assert.deepEqual(size, { w: 800, h: 600 }, "the preview shows the image at its full size");
    assert.ok(await full.isVisible(), "the full image is on screen");

    await b.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.ok(await thumb.isVisible(), "the chat is back, thumbnail in place");
  });

  test("a plain file: name, size and a download link giving the bytes sent", async () => {
    const a = A.page;
    const b = B.page;
    const body = Buffer.from("Trip notes\n".repeat(250)); // 2,750 bytes: "2.8 kB"
    await a.locator('input[type="file"]').setInputFiles({ name: "trip-notes.txt", mimeType: "text/plain", buffer: body });
    for (const p of [a, b]) {
      await expectMessageCount(p, "trip-notes.txt", 1);
      const card = messages(p, "trip-notes.txt").locator(".file-card");
      assert.equal((await card.locator(".file-name").innerText()).trim(), "trip-notes.txt");
      assert.equal((await card.locator(".file-size").innerText()).trim(), "2.8 kB");
    }
    const link = b.getByRole("link", { name: "Download trip-notes.txt" });
    assert.equal(await link.getAttribute("download"), "trip-notes.txt", "the link downloads under the file's name");
    const href = await link.getAttribute("href");
    const got = await pageFetch(b, href);
    assert.equal(got.status, 200, "the download link answers");
    assert.ok(Buffer.from(got.bytes).equals(body), "the download holds the bytes sent");
    // Clicking it is a download (not a navigation away from the chat).
    const [download] = await Promise.all([b.waitForEvent("download"), link.click()]);
    assert.equal(download.suggestedFilename(), "trip-notes.txt");
    await b.locator("#chat-title").filter({ hasText: "Alice" }).waitFor();
  });

  test("cancel mid-upload: the row goes and nothing is sent", async () => {
    const a = A.page;
    const b = B.page;
    const name = "big-archive.bin";
    const before = await messages(b).count();
    await throttleUpload(a, 256 * 1024);
    try {
      await a.locator('input[type="file"]').setInputFiles({ name, mimeType: "application/octet-stream", buffer: noise(6 * 1024 * 1024) });
      const row = a.locator('[data-testid="upload"]').filter({ hasText: name });
      const value = () => row.locator("progress").evaluate((p) => p.value).catch(() => -1);
      await waitUntil(async () => (await value()) > 0, { timeout: 15_000, interval: 20, message: "the upload to be under way" });
      assert.ok((await value()) < 100, "still uploading when cancelled");
      await a.getByRole("button", { name: `Cancel upload: ${name}` }).click();
      await row.waitFor({ state: "detached" });
    } finally {
      await unthrottle(a);
    }
    // Nothing came of it: a text sent afterwards arrives, the file never does.
    await settle(a, b, "Never mind the archive");
    for (const p of [a, b]) assert.equal(await messages(p, name).count(), 0, "no message for the cancelled file");
    assert.equal(await a.locator('[data-testid="message"][data-pending="true"]').count(), 0, "no pending item on the sender's side");
    assert.equal(await a.locator('[data-testid="upload"]').count(), 0, "no upload row");
    assert.equal(await messages(b).count(), before + 1, "the receiver got only the text");
    // And after a reload the upload does not come back (it was not kept for resuming).
    await a.reload();
    await a.locator("#chat-title").filter({ hasText: "Bob" }).waitFor();
    await expectMessageCount(a, "Never mind the archive", 1);
    assert.equal(await a.locator('[data-testid="upload"]').count(), 0, "no upload row after a reload");
    const history = await server.api("GET", `/rooms/${room.id}/messages?limit=100`, undefined, alice.token);
    assert.equal(history.items.filter((m) => m.file?.name === name).length, 0, "nothing on the server");
    assert.deepEqual(a.errors, [], "no page errors for Alice");
    assert.deepEqual(b.errors, [], "no page errors for Bob");
  });
});

describe("media: refusals (a server with a 1 MiB file limit and a 1.5 MB quota)", () => {
  let server;
  let browser;
  let A;
  let B;
  let alice;
  let room;

  before(async () => {
    // A 1 MiB file limit and a 1.5 MB quota (files plus unfinished uploads).
    ({ server, browser } = await startServerAndBrowser({ ROOMY_MAX_UPLOAD_BYTES: String(1024 * 1024), ROOMY_USER_QUOTA_BYTES: String(1_500_000) }));
    ({ alice, room, A, B } = await twoFriends(server, browser));
  });

  after(() => stopServerAndBrowser(server, browser));

  test("too large: refused in words, nothing sent", async () => {
    const a = A.page;
    const b = B.page;
    const name = "holiday-video-raw.bin";
    const before = await messages(b).count();
    await a.locator('input[type="file"]').setInputFiles({ name, mimeType: "application/octet-stream", buffer: noise(2 * 1024 * 1024) });
    const row = a.locator('[data-testid="upload"]').filter({ hasText: name });
    const alert = row.getByRole("alert");
    await alert.waitFor({ timeout: 15_000 });
    const words = (await alert.innerText()).trim();
    assert.match(words, /too large/i, `the reason is given in words (${JSON.stringify(words)})`);
    assert.match(words, new RegExp(name.replace(/[.]/g, "\\.")), "the row names the file");
    assert.doesNotMatch(words, /too_large|payload_too_large|413|\berror\b.*\bcode\b/i, `no raw code (${JSON.stringify(words)})`);
    // It can be dismissed, and nothing was sent.
    await row.getByRole("button", { name: "Dismiss" }).click();
    await row.waitFor({ state: "detached" });
    await settle(a, b, "Too big, I'll send a link instead");
    for (const p of [a, b]) assert.equal(await messages(p, name).count(), 0, "no message for the refused file");
    assert.equal(await messages(b).count(), before + 1, "the receiver got only the text");
    assert.equal(await a.locator('[data-testid="message"][data-pending="true"]').count(), 0, "no pending item on the sender's side");
    const history = await server.api("GET", `/rooms/${room.id}/messages?limit=100`, undefined, alice.token);
    assert.equal(history.items.filter((m) => m.file?.name === name).length, 0, "nothing on the server");

    // A file under the limit still goes through on the same server.
    await a.locator('input[type="file"]').setInputFiles({ name: "small.txt", mimeType: "text/plain", buffer: Buffer.from("fits\n") });
    await expectMessageCount(b, "small.txt", 1);
    assert.deepEqual(a.errors, [], "no page errors for Alice");
  });

  test("quota full: refused in words, nothing sent", async () => {
    const a = A.page;
    const b = B.page;
    await a.locator('input[type="file"]').setInputFiles({ name: "part-1.bin", mimeType: "application/octet-stream", buffer: noise(900 * 1024) });
    await expectMessageCount(b, "part-1.bin", 1, 20_000);
    const name = "part-2.bin";
    await a.locator('input[type="file"]').setInputFiles({ name, mimeType: "application/octet-stream", buffer: noise(900 * 1024) });
    const alert = a.locator('[data-testid="upload"]').filter({ hasText: name }).getByRole("alert");
    await alert.waitFor({ timeout: 15_000 });
    const words = (await alert.innerText()).trim();
    assert.match(words, /quota is full/i, `the reason is given in words (${JSON.stringify(words)})`);
    assert.doesNotMatch(words, /quota_exceeded|413/, `no raw code (${JSON.stringify(words)})`);
    await a.locator('[data-testid="upload"]').filter({ hasText: name }).getByRole("button", { name: "Dismiss" }).click();
    await settle(a, b, "The second part did not fit");
    for (const p of [a, b]) assert.equal(await messages(p, name).count(), 0, "no message for the refused file");
  });

  test("wrong type: a file typed as an image that is not one is refused in words", async () => {
    const a = A.page;
    const b = B.page;
    const name = "not-really.png";
    // The browser calls it image/png (from its name); the server reads the bytes and refuses it as an image.
    await a.locator('input[type="file"]').setInputFiles({ name, mimeType: "image/png", buffer: Buffer.from("this is plain text, not a PNG\n") });
    // The refusal is shown next to the file: on its upload row or on its (failed) message.
    const alert = a.locator('[data-testid="upload"], [data-testid="message"]').filter({ hasText: name }).getByRole("alert");
    await alert.waitFor({ timeout: 15_000 });
    const words = (await alert.innerText()).trim();
    await settle(a, b, "That was not a picture");
    assert.equal(await messages(b, name).count(), 0, "the receiver got no message for it");
    assert.doesNotMatch(words, /validation_failed|unsupported_media_type|file_id|\b4\d\d\b/, `no raw code (${JSON.stringify(words)})`);
    // The reason, about the file's type (the client has the sentence for it: "This file type cannot be sent as …").
    assert.match(words, /file type cannot be sent as .*image/i, `the reason is given in words (${JSON.stringify(words)})`);
  });
});
