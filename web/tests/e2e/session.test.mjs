// The session as the user lives it: it survives a reload; it ends, back on
// the login page with a message in words and without any user action, when
// it is ended elsewhere (logout of that session, a password change, an
// administrator disabling the account); and an active user is never sent
// back to the login page when the access token ages, because the client
// keeps the renewed tokens the server hands out (the `Authorization` header
// of HTTP responses, `ready.token` on the WebSocket).
import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  RoomyServer,
  WEB_DIR,
  connState,
  launchBrowser,
  loginUI,
  newUserPage,
  uname,
  waitUntil,
  stopServerAndBrowser,
} from "./harness.mjs";

const TOKEN_KEY = "roomy.token";

// --- local helpers ---

function storedToken(page) {
  return page.evaluate((k) => localStorage.getItem(k), TOKEN_KEY);
}

/** The claims of an access token (a JWT: sub, sid, iat, exp). */
function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

/** An HS256 JWT, signed as the server signs its access tokens. */
function signToken(claims, secret) {
  const enc = (x) => Buffer.from(JSON.stringify(x)).toString("base64url");
  const body = `${enc({ typ: "JWT", alg: "HS256" })}.${enc(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** An administrator, made as the README says (`roomy admin create-user --admin`) on the server's data folder, then logged in. */
async function makeAdmin(server, username, password) {
  const bin = process.env.ROOMY_BIN || "../target/debug/roomy";
  const env = { ...process.env };
  delete env.ROOMY_CONFIG;
  delete env.ROOMY_DATABASE_URL;
  await promisify(execFile)(
    path.isAbsolute(bin) ? bin : path.resolve(WEB_DIR, bin),
    ["admin", "create-user", "--username", username, "--password", password, "--admin", "--data-dir", server.dataDir],
    { env, cwd: server.dataDir },
  );
  const res = await server.api("POST", "/auth/login", { username, password });
  return { id: res.user.id, username, password, token: res.token };
}

/** The signed-in shell: the conversation list's heading and the connection online. */
async function expectSignedIn(page) {
  await connState(page, "online");
  await page.getByRole("heading", { name: "Chats", exact: true }).waitFor();
  assert.notEqual(new URL(page.url()).pathname, "/login", "not on the login page");
}

/**
 * Back on the login page, by itself, with a message in words matching
 * `expected` (not a raw error code such as `session_ended`), and the
 * session's token gone.
 */
async function expectEndedToLogin(page, expected) {
  await page.waitForURL((u) => u.pathname === "/login");
  await page.getByRole("heading", { name: "Log in", exact: true }).waitFor();
  const notice = page.getByRole("alert").first();
  await notice.waitFor();
  const shown = await notice.innerText();
  assert.match(shown, expected, "the login page says why the session ended");
  assert.doesNotMatch(shown, /\b[a-z]+_[a-z]+\b/, "the message is in words");
  assert.equal(await page.locator('[data-testid="connection-state"]').count(), 0, "the chat shell is gone");
  assert.equal(await storedToken(page), null, "the stored token is gone");
}

/** Runs `work`, failing at once (with what the login page says) if `page` is sent to the login page meanwhile. */
async function neverSentToLogin(page, who, work) {
  const sent = page.waitForURL((u) => u.pathname === "/login", { timeout: 0 }).then(
    async () => {
      const said = await page.getByRole("alert").allInnerTexts().catch(() => []);
      throw new Error(`${who} was sent back to the login page: ${JSON.stringify(said)}`);
    },
    () => new Promise(() => undefined), // the page closed: nothing to report
  );
  sent.catch(() => undefined);
  await Promise.race([work(), sent]);
}

/** Submits the login form (already on /login) without waiting for success. */
async function submitLogin(page, username, password) {
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(password);
  await page.locator("form button[type=submit]").first().click();
}

/** Reloads `page` and waits for the signed-in shell, failing at once if the login page shows instead. */
function reloadSignedIn(page, who) {
  return neverSentToLogin(page, who, async () => {
    await page.reload();
    await expectSignedIn(page);
  });
}

const SESSION_ENDED = /Your session ended .*log in again/i;

describe("session", () => {
  let server;
  let browser;

  before(async () => {
    [server, browser] = await Promise.all([RoomyServer.start(), launchBrowser()]);
  });

  after(() => stopServerAndBrowser(server, browser));

  test("a reload keeps the user logged in", async () => {
    const ann = await server.user(uname("ann"), "Ann", "ann-pass-123");
    const ben = await server.user(uname("ben"), "Ben", "ben-pass-123");
    await server.befriend(ann, ben);
    const room = await server.direct(ann, ben);
    await server.sendText(ben, room.id, "Still there after a reload?");
    const { context, page } = await newUserPage(browser, server);
    try {
      await loginUI(page, ann);
      await expectSignedIn(page);
      const conversation = page.locator('[data-testid="conversation"]').filter({ hasText: "Ben" });
      await conversation.waitFor();
      await page.reload();
      await expectSignedIn(page);
      await conversation.filter({ hasText: "Still there after a reload?" }).waitFor();
      assert.equal(await page.locator("#username").count(), 0, "no login form");
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
    }
  });

  test("logging out ends only that session; a session ended from elsewhere returns to login with a message", async () => {
    const cat = await server.user(uname("cat"), "Cat", "cat-pass-123");
    const a = await newUserPage(browser, server);
    const b = await newUserPage(browser, server);
    try {
      await Promise.all([loginUI(a.page, cat), loginUI(b.page, cat)]);

      // A logs out through the UI: the login page, with no "session ended" message (A chose to leave).
      await a.page.getByRole("button", { name: "Log out" }).click();
      await a.page.waitForURL((u) => u.pathname === "/login");
      await a.page.getByRole("heading", { name: "Log in", exact: true }).waitFor();
      assert.equal(await a.page.getByRole("alert").count(), 0, "no message after one's own logout");
      assert.equal(await storedToken(a.page), null);

      // B is unaffected: it keeps working (HTTP), and a reload (the token checked afresh) keeps it in.
      await b.page.getByRole("link", { name: "Friends", exact: true }).click();
      await b.page.getByRole("heading", { name: "Friends", level: 1 }).waitFor();
      await b.page.getByRole("link", { name: "Chats", exact: true }).click();
      await b.page.reload();
      await expectSignedIn(b.page);

      // A logs in again and ends B's session from its side (the sessions API, with A's token).
      await loginUI(a.page, cat);
      const tokenA = await storedToken(a.page);
      const sidB = claimsOf(await storedToken(b.page)).sid;
      const sessions = await server.api("GET", "/me/sessions", undefined, tokenA);
      assert.ok(
        sessions.items.some((s) => s.id === sidB && !s.current),
        `B's session is listed for A: ${JSON.stringify(sessions.items.map((s) => [s.id, s.current]))}`,
      );
      await server.api("DELETE", `/me/sessions/${sidB}`, undefined, tokenA);

      // B goes to the login page by itself (its socket is closed), with a message in words.
      await expectEndedToLogin(b.page, SESSION_ENDED);
      // A is still in.
      await connState(a.page, "online");
      assert.deepEqual([...a.page.errors, ...b.page.errors], []);
    } finally {
      await Promise.all([a.context.close(), b.context.close()]);
    }
  });

  test("a password change ends the other open session; the new password logs in", async () => {
    const dan = await server.user(uname("dan"), "Dan", "dan-pass-123");
    const a = await newUserPage(browser, server);
    const b = await newUserPage(browser, server);
    try {
      await Promise.all([loginUI(a.page, dan), loginUI(b.page, dan)]);
      const newPassword = "dan-new-pass-456";
      await server.api("PUT", "/me/password", { old_password: dan.password, new_password: newPassword }, await storedToken(a.page));

      await expectEndedToLogin(b.page, SESSION_ENDED);
      // The session that changed the password stays.
      await connState(a.page, "online");

      // The old password no longer works, said in words; the new one does.
      await submitLogin(b.page, dan.username, dan.password);
      await b.page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
      assert.equal(new URL(b.page.url()).pathname, "/login");
      await submitLogin(b.page, dan.username, newPassword);
      await expectSignedIn(b.page);
      assert.deepEqual([...a.page.errors, ...b.page.errors], []);
    } finally {
      await Promise.all([a.context.close(), b.context.close()]);
    }
  });

  test("a disabled account's open page returns to login with a message; logging in again is refused in words", async () => {
    const [admin, eve] = await Promise.all([
      makeAdmin(server, uname("boss"), "boss-pass-123"),
      server.user(uname("eve"), "Eve", "eve-pass-123"),
    ]);
    const { context, page } = await newUserPage(browser, server);
    try {
      await loginUI(page, eve);
      await expectSignedIn(page);
      await server.api("PATCH", `/admin/users/${eve.id}`, { disabled: true }, admin.token);

      // The client has its own sentence for this ("This account has been
      // disabled."), and the server's HTTP answers use that code; the live page
      // must not be told it logged out elsewhere or changed its password.
      await expectEndedToLogin(page, /account has been disabled/i);
      await submitLogin(page, eve.username, eve.password);
      // A disabled account is answered like a wrong password (the server does not say which).
      await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/login");
      assert.equal(await page.locator('[data-testid="connection-state"]').count(), 0);
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
    }
  });

  test("an active user whose token ages past its expiry stays logged in (renewed tokens are kept)", async () => {
    // Token expiry is wall-clock time, and the server refuses a lifetime under
    // 60 s, so waiting out whole lifetimes would take minutes. Instead this
    // server runs with the shortest lifetime and a signing secret the test
    // knows, and each page is given the token this server would have issued
    // for its session 54 s ago: past half its life (so every use earns a
    // renewal) and expiring 6 s from now. The only wait is those 6 s, while
    // the user keeps using the app; then the old token is dead, and a reload
    // shows whether the client kept a renewed one.
    const TTL = 60;
    const AGE = 54;
    const secret = randomBytes(24).toString("hex");
    const srv = await RoomyServer.start({ ROOMY_TOKEN_TTL_SECS: String(TTL), ROOMY_JWT_SECRET: secret });
    const pages = [];
    try {
      const [fay, gus, hal] = await Promise.all([
        srv.user(uname("fay"), "Fay", "fay-pass-123"),
        srv.user(uname("gus"), "Gus", "gus-pass-123"),
        srv.user(uname("hal"), "Hal", "hal-pass-123"),
      ]);
      await srv.befriend(fay, hal);

      // Fay's page gets renewals only through HTTP responses: `ready.token` is
      // blanked on the way in. Gus's only through `ready.token`: the
      // `Authorization` response header is taken off every HTTP response.
      const viaHeader = await newUserPage(browser, srv);
      const viaReady = await newUserPage(browser, srv);
      pages.push(viaHeader, viaReady);
      const renewals = { header: 0, ready: 0 };
      await viaHeader.page.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
        const upstream = ws.connectToServer();
        ws.onMessage((m) => upstream.send(m));
        upstream.onMessage((m) => {
          const text = String(m);
          if (text.includes('"type":"ready"')) {
            const f = JSON.parse(text);
            if (f.token) {
              f.token = null;
              ws.send(JSON.stringify(f));
              return;
            }
          }
          ws.send(m);
        });
      });
      viaHeader.page.on("response", (r) => {
        if (r.headers().authorization) renewals.header++;
      });
      await viaReady.page.route(/\/api\/v1\//, async (route) => {
        const response = await route.fetch();
        const headers = { ...response.headers() };
        delete headers.authorization;
        await route.fulfill({ response, headers });
      });
      viaReady.page.on("websocket", (ws) =>
        ws.on("framereceived", (f) => {
          if (String(f.payload).includes('"type":"ready"') && JSON.parse(String(f.payload)).token) renewals.ready++;
        }),
      );

      await Promise.all([loginUI(viaHeader.page, fay), loginUI(viaReady.page, gus)]);
      // Both pages as if opened 54 s ago: the aged token in storage, then a reload.
      const now = Math.floor(Date.now() / 1000);
      const aged = {};
      for (const [name, p] of [["header", viaHeader.page], ["ready", viaReady.page]]) {
        const c = claimsOf(await storedToken(p));
        aged[name] = signToken({ sub: c.sub, sid: c.sid, iat: now - AGE, exp: now - AGE + TTL }, secret);
        await p.evaluate(([k, v]) => localStorage.setItem(k, v), [TOKEN_KEY, aged[name]]);
      }
      const expiresAtMs = (now - AGE + TTL) * 1000;
      await Promise.all([reloadSignedIn(viaHeader.page, "Fay"), reloadSignedIn(viaReady.page, "Gus")]);

      // About once a second until the aged token has expired, both users use
      // the app: Fay searches on the friends page and goes back to her chats
      // (HTTP requests); Gus's connection drops and comes back (reconnects).
      // Neither is ever sent to the login page.
      const activity = async (page, who, fn) => {
        for (let round = 0; Date.now() <= expiresAtMs + 500; round++) {
          const next = Date.now() + 1000;
          await neverSentToLogin(page, who, () => fn(round));
          // Pacing, not waiting for an outcome: the user acts about once a second.
          await waitUntil(() => Date.now() >= next, { timeout: 2000, interval: 100, message: "the next second" });
        }
      };
      await Promise.all([
        activity(viaHeader.page, "Fay (renewals by HTTP header)", async (round) => {
          const p = viaHeader.page;
          await p.getByRole("link", { name: "Friends", exact: true }).click();
          await p.getByRole("heading", { name: "Friends", level: 1 }).waitFor();
          await p.locator("#user-search").fill(round % 2 ? "Hal" : "hal");
          await p.getByRole("button", { name: "Search", exact: true }).click();
          // The page is fresh each round, so a result means this search was answered.
          await p.locator('[data-testid="user-result"]').filter({ hasText: "Hal" }).waitFor();
          await p.getByRole("link", { name: "Chats", exact: true }).click();
          await expectSignedIn(p);
        }),
        activity(viaReady.page, "Gus (renewals by ready.token)", async () => {
          const { context, page } = viaReady;
          await context.setOffline(true);
          await connState(page, "offline");
          await context.setOffline(false);
          await connState(page, "online");
          await page.getByRole("heading", { name: "Chats", exact: true }).waitFor();
        }),
      ]);

      // The aged tokens are dead now (the server refuses them)...
      for (const t of Object.values(aged)) {
        const r = await fetch(`${srv.url}/api/v1/me`, { headers: { authorization: `Bearer ${t}` } });
        assert.equal(r.status, 401, "the aged token has expired");
      }
      // ...and yet after a reload both users are still in, on renewed tokens.
      await Promise.all([reloadSignedIn(viaHeader.page, "Fay, after a reload,"), reloadSignedIn(viaReady.page, "Gus, after a reload,")]);
      for (const [name, p] of [["header", viaHeader.page], ["ready", viaReady.page]]) {
        const stored = await storedToken(p);
        assert.ok(stored, `${name}: a token is stored`);
        assert.notEqual(stored, aged[name], `${name}: the stored token is a renewed one`);
        assert.ok(claimsOf(stored).exp * 1000 > Date.now(), `${name}: the stored token is alive`);
        assert.equal(new URL(p.url()).pathname, "/", `${name}: still on the chats page`);
      }
      assert.ok(renewals.header > 0 && renewals.ready > 0, `the server renewed through both channels: ${JSON.stringify(renewals)}`);
      assert.deepEqual([...viaHeader.page.errors, ...viaReady.page.errors], []);
    } finally {
      await Promise.all(pages.map((x) => x.context.close()));
      await srv.stop();
    }
  });
});
