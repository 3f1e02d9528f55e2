// Shared pieces of the browser suite: the real `roomy` binary on SQLite in a
// fresh temp data folder, Debian's Chromium through playwright-core, polling
// helpers (no fixed sleeps), and a few API shortcuts for the set-up steps a
// scenario is not about.
import { spawn } from "node:child_process";
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(here, "../..");
export const REPO_DIR = path.resolve(WEB_DIR, "..");
export const SCREENSHOTS = process.env.ROOMY_SCREENSHOTS === "1";
export const SCREENSHOT_DIR = path.join(REPO_DIR, "docs/screenshots");

function roomyBin() {
  const bin = process.env.ROOMY_BIN || "../target/debug/roomy";
  return path.isAbsolute(bin) ? bin : path.resolve(WEB_DIR, bin);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `f` until it returns a truthy value; throws `message` (plus the last value) after `timeout` ms. */
export async function waitUntil(f, { timeout = 10_000, interval = 50, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await f();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? ` (last error: ${lastErr.message})` : ` (last value: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message}${detail}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// Servers still running when the test process exits (a crash, Ctrl-C) are killed too.
const live = new Set();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/**
 * One `roomy` process. `restart()` starts it again on the same port and data
 * folder (after `kill()`), as an operator would after a crash.
 */
export class RoomyServer {
  constructor(port, dataDir) {
    this.port = port;
    this.dataDir = dataDir;
    this.url = `http://127.0.0.1:${port}`;
    this.proc = null;
    this.log = [];
  }

  static async start(extraEnv = {}) {
    const port = await freePort();
    const dataDir = await mkdtemp(path.join(tmpdir(), "roomy-e2e-"));
    const s = new RoomyServer(port, dataDir);
    s.extraEnv = extraEnv;
    await s.spawn();
    return s;
  }

  async spawn() {
    await mkdir(this.dataDir, { recursive: true });
    const env = {
      ...process.env,
      ROOMY_LISTEN: `127.0.0.1:${this.port}`,
      ROOMY_DATA_DIR: this.dataDir,
      ROOMY_REGISTRATIONS_PER_HOUR: "0",
      ROOMY_GUESTS_PER_HOUR: "0",
      ROOMY_FRIEND_REQUESTS_PER_HOUR: "0",
      ROOMY_SEARCHES_PER_MINUTE: "0",
      ROOMY_SYNCS_PER_MINUTE: "0",
      ROOMY_SENDS_PER_SEC: "0",
      ROOMY_LOGIN_FAILURES_PER_MINUTE: "1000",
      ROOMY_PRESENCE_GRACE_SECS: "1",
      ROOMY_LOG_FORMAT: "text",
      ...this.extraEnv,
    };
    delete env.ROOMY_CONFIG;
    delete env.ROOMY_DATABASE_URL;
    const proc = spawn(roomyBin(), ["serve"], { env, cwd: this.dataDir, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    const keep = (d) => {
      this.log.push(String(d));
      if (this.log.length > 400) this.log.splice(0, 200);
    };
    proc.stdout.on("data", keep);
    proc.stderr.on("data", keep);
    const exited = new Promise((resolve) => proc.once("exit", (code, sig) => resolve({ code, sig })));
    this.exited = exited;
    let dead = null;
    void exited.then((x) => (dead = x));
    await waitUntil(
      async () => {
        if (dead) throw new Error(`roomy exited (${JSON.stringify(dead)}): ${this.log.join("").slice(-2000)}`);
        const r = await fetch(`${this.url}/readyz`).catch(() => null);
        return r?.ok;
      },
      { timeout: 30_000, interval: 100, message: `roomy to be ready on ${this.url}` },
    ).catch((e) => {
      if (dead) throw new Error(`roomy exited (${JSON.stringify(dead)}): ${this.log.join("").slice(-2000)}`);
      throw e;
    });
  }

  /** SIGKILL, as a crash would; resolves when the process is gone. */
  async kill() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGKILL");
    await this.exited;
  }

  async restart() {
    await this.kill();
    await this.spawn();
  }

  async stop() {
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true }).catch(() => undefined);
  }

  // --- API shortcuts (set-up only; the scenarios act through the UI) ---

  async api(method, p, body, token) {
    const r = await fetch(`${this.url}/api/v1${p}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    const json = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return json;
  }

  /** Registers and logs in a user; returns { id, username, password, nickname, token }. */
  async user(username, nickname = username, password = "secret-pass-1") {
    await this.api("POST", "/auth/register", { username, password, nickname });
    const res = await this.api("POST", "/auth/login", { username, password });
    return { id: res.user.id, username, password, nickname, token: res.token };
  }

  /** Makes two users friends through a request and its acceptance. */
  async befriend(a, b) {
    const req = await this.api("POST", "/friend-requests", { user_id: b.id, note: null, remark: null }, a.token);
    if (req.status !== "agree") await this.api("POST", `/friend-requests/${req.id}/answer`, { decision: "agree", remark: null }, b.token);
  }

  async direct(a, b) {
    return this.api("POST", "/rooms/direct", { user_id: b.id }, a.token);
  }

  async sendText(u, roomId, body) {
    return this.api("POST", `/rooms/${roomId}/messages`, { client_id: `api-${Date.now()}-${Math.random()}`, kind: "text", body }, u.token);
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.ROOMY_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-background-networking"],
  });
}

/** A fresh server (with `env` on top of the suite's settings) and a browser, for one file or `describe`. */
export async function startServerAndBrowser(env = {}) {
  const server = await RoomyServer.start(env);
  const browser = await launchBrowser();
  return { server, browser };
}

/** Closes what `startServerAndBrowser` opened, however far a failure let it get. */
export async function stopServerAndBrowser(server, browser) {
  await browser?.close().catch(() => undefined);
  await server?.stop();
}

/**
 * A fresh browser context (one per user) with a page on the server. Records
 * page errors and dialogs so a test can assert there were none.
 */
export async function newUserPage(browser, server, { locale = "en-US", viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ baseURL: server.url, locale, viewport, timezoneId: "UTC" });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  // Confirmations (delete for me) are accepted; any other dialog is recorded and dismissed.
  page.on("dialog", (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    void (d.type() === "confirm" ? d.accept() : d.dismiss()).catch(() => undefined);
  });
  return { context, page };
}

/** Logs in through the login form and waits for the gateway to be online. */
export async function loginUI(page, user) {
  await page.goto("/login");
  await page.locator("#username").fill(user.username);
  await page.locator("#password").fill(user.password);
  await page.locator("form button[type=submit]").first().click();
  await connState(page, "online");
}

export function connState(page, state, timeout = 20_000) {
  return page.locator(`[data-testid="connection-state"][data-state="${state}"]`).waitFor({ timeout });
}

/** The bubbles (text) of the open chat whose text contains `text`. */
export function messages(page, text) {
  const all = page.locator('[data-testid="message"]');
  return text === undefined ? all : all.filter({ hasText: text });
}

/** Waits until exactly `n` messages containing `text` are shown, and they are confirmed (not pending). */
export async function expectMessageCount(page, text, n, timeout = 15_000) {
  let seen = "";
  await waitUntil(
    async () => {
      const loc = messages(page, text);
      const c = await loc.count();
      const pending = await loc.evaluateAll((xs) => xs.filter((x) => x.getAttribute("data-pending") === "true").length);
      seen = `${c} shown, ${pending} pending`;
      return c === n && pending === 0;
    },
    { timeout, message: `${n} confirmed message(s) with text ${JSON.stringify(text)}` },
  ).catch(async (e) => {
    const all = await page
      .locator('[data-testid="message"]')
      .evaluateAll((xs) => xs.map((x) => `${x.dataset.seq ?? "-"}/${x.dataset.pending ? "pending" : ""} ${x.textContent.slice(0, 40)}`))
      .catch(() => []);
    e.message += ` — ${seen}; the view holds ${all.length} message(s): ${JSON.stringify(all)}`;
    throw e;
  });
}

/** Returns the duplicate data-seq / data-client-id values in the open chat (both should be empty). */
export async function duplicates(page) {
  return page.evaluate(() => {
    const seqs = new Map();
    const cids = new Map();
    for (const el of document.querySelectorAll('[data-testid="message"]')) {
      const s = el.getAttribute("data-seq");
      const c = el.getAttribute("data-client-id");
      if (s) seqs.set(s, (seqs.get(s) ?? 0) + 1);
      if (c) cids.set(c, (cids.get(c) ?? 0) + 1);
    }
    return {
      seq: [...seqs].filter(([, n]) => n > 1).map(([k]) => k),
      clientId: [...cids].filter(([, n]) => n > 1).map(([k]) => k),
    };
  });
}

export async function sendText(page, text) {
  const box = page.locator("#composer-input");
  await box.fill(text);
  await box.press("Enter");
}

export async function openConversation(page, name) {
  await page.locator('[data-testid="conversation"]').filter({ hasText: name }).first().click();
  await page.locator("#chat-title").filter({ hasText: name }).waitFor();
}

/** Saves a screenshot under docs/screenshots/ when ROOMY_SCREENSHOTS=1. */
export async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // Let web fonts and images settle, then hide the caret so shots are stable.
  await page.evaluate(async () => {
    document.activeElement?.blur?.();
    await document.fonts.ready;
  });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), caret: "hide", animations: "disabled" });
}

/** A valid PNG of w×h pixels (an RGB gradient, or noise so it does not compress), built in Node. */
export function makePng(w = 64, h = 48, noise = false) {
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) {
      row[1 + x * 3] = (x * 255) / w;
      row[2 + x * 3] = (y * 255) / h;
      row[3 + x * 3] = noise ? (Math.random() * 256) | 0 : 160;
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

let crcTable = null;
function crc32(buf) {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return c ^ -1;
}

/** Unique short names per run: usernames must be 6-30 of [A-Za-z0-9#$%_-]. */
let counter = 0;
export function uname(prefix) {
  counter++;
  return `${prefix}_${process.pid % 10000}${counter}`.slice(0, 30);
}

// --- Upload helpers (DevTools network conditions and the progress bars) ---

/** Slows this page's uploads (DevTools network conditions) so progress can be seen, cut or cancelled. */
export async function throttleUpload(page, bytesPerSec) {
  const cdp = page.__cdp ?? (await page.context().newCDPSession(page));
  page.__cdp = cdp;
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSec });
}

/**
 * Cuts or restores the page's network: `context.setOffline`, and the same on
 * the DevTools session that throttles uploads (its conditions would otherwise
 * keep the page's requests going), which also fails the request in flight.
 */
export async function setOffline(page, offline) {
  await page.context().setOffline(offline);
  if (page.__cdp) await page.__cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
}

/** Lifts `throttleUpload`. */
export async function unthrottle(page) {
  const cdp = page.__cdp;
  if (!cdp) return;
  page.__cdp = null;
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 }).catch(() => undefined);
  await cdp.detach().catch(() => undefined);
}

/** Records every value the upload progress bars take; returns a function giving the list. */
export async function watchProgress(page) {
  await page.evaluate(() => {
    window.__progress = [];
    const seen = (el) => window.__progress.push(Number(el.value));
    const obs = new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.target instanceof HTMLProgressElement) seen(m.target);
        for (const n of m.addedNodes) if (n instanceof Element) n.querySelectorAll("progress").forEach(seen);
      }
    });
    obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["value"] });
    window.__progressObs = obs;
  });
  return async () =>
    page.evaluate(() => {
      window.__progressObs.disconnect();
      return window.__progress;
    });
}
