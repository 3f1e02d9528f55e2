// A direct room with 10,000 messages: the chat opens at the newest, scrolls
// back through older pages while the page holds a bounded window of
// messages (never all of them), the view does not jump when older messages
// are put in above; scrolling down brings newer ones back, and a message
// arriving meanwhile offers "New messages", which goes to the newest.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import {
  RoomyServer,
  launchBrowser,
  loginUI,
  messages,
  newUserPage,
  openConversation,
  uname,
  waitUntil,
  stopServerAndBrowser,
} from "./harness.mjs";

const TOTAL = 10_000;
const CONCURRENCY = 32;
const MAX_DOM = 200;
const STEPS_UP = 30;
const STEPS_DOWN = 5;
const body = (n) => `msg ${String(n).padStart(5, "0")}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * POSTs JSON over kept-alive connections (node:http costs the test process
 * a third of what fetch does per request, which counts for 10,000 of them
 * on a small shared machine).
 */
function poster(server, maxSockets) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const post = (p, obj, token) => {
    const data = JSON.stringify(obj);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: server.port,
          path: `/api/v1${p}`,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), authorization: `Bearer ${token}` },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => (text += d));
          res.on("end", () => (res.statusCode < 300 ? resolve(text) : reject(new Error(`POST ${p}: ${res.statusCode} ${text}`))));
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  };
  return { post, close: () => agent.destroy() };
}

/** What the open chat shows: how many messages, their seq and number range, and which are on screen. */
function view(page) {
  return page.evaluate(() => {
    const el = document.querySelector(".timeline");
    const box = el.getBoundingClientRect();
    const items = [...el.querySelectorAll('[data-testid="message"]')];
    const nums = [];
    const seqs = [];
    const pairs = [];
    const onScreen = [];
    for (const li of items) {
      const m = /msg (\d{5})/.exec(li.textContent);
      const n = m ? Number(m[1]) : null;
      if (n !== null) nums.push(n);
      seqs.push(Number(li.dataset.seq));
      pairs.push([Number(li.dataset.seq), n]);
      const r = li.getBoundingClientRect();
      if (r.bottom > box.top && r.top < box.bottom && n !== null) onScreen.push(n);
    }
    return {
      count: items.length,
      minSeq: Math.min(...seqs),
      maxSeq: Math.max(...seqs),
      minNum: Math.min(...nums),
      maxNum: Math.max(...nums),
      // In order, one each, none missing: the window is a run of consecutive messages.
      consecutive: seqs.every((x, i) => i === 0 || x === seqs[i - 1] + 1),
      pairs,
      onScreen,
      maxEver: window.__maxMessages ?? 0,
    };
  });
}

/**
 * Scrolls the timeline to its top, as dragging the scroll bar there does,
 * and returns the message then at the top edge of the view: its key and
 * where it is on screen.
 */
function scrollToTop(page) {
  return page.evaluate(() => {
    const el = document.querySelector(".timeline");
    el.scrollTop = 0;
    const top = el.getBoundingClientRect().top;
    for (const li of el.querySelectorAll('[data-testid="message"]')) {
      const r = li.getBoundingClientRect();
      if (r.bottom > top) return { key: li.dataset.key, text: /msg \d{5}/.exec(li.textContent)?.[0], top: r.top };
    }
    return null;
  });
}

describe("a room with 10,000 messages", () => {
  let server;
  let browser;
  let alice;
  let bob;
  let room;
  let page;
  let newest; // the room's last message, as the server has it
  const timings = { up: 0, down: 0 };

  before(async () => {
    // The harness turns the per-user send limit off (ROOMY_SENDS_PER_SEC=0).
    server = await RoomyServer.start();
    alice = await server.user(uname("alice"), "Alice", "alice-pass-1");
    bob = await server.user(uname("bob"), "Bob", "bob-pass-12");
    await server.befriend(alice, bob);
    room = await server.direct(alice, bob);

    // 10,000 messages through the API, 32 in flight at a time, from both sides
    // (the browser starts meanwhile).
    const launching = launchBrowser();
    const t0 = Date.now();
    const { post, close } = poster(server, CONCURRENCY);
    let next = 1;
    const worker = async () => {
      for (;;) {
        const n = next++;
        if (n > TOTAL) return;
        const who = n % 2 ? bob : alice;
        await post(`/rooms/${room.id}/messages`, { client_id: `seed-${n}`, kind: "text", body: body(n) }, who.token);
      }
    };
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    } finally {
      close();
      browser = await launching;
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(`seeded ${TOTAL} messages in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s, ${CONCURRENCY} in flight)`);
    const last = await server.api("GET", `/rooms/${room.id}/messages?limit=1`, undefined, alice.token);
    newest = last.items[last.items.length - 1];

    ({ page } = await newUserPage(browser, server));
    await loginUI(page, alice);
  });

  after(() => stopServerAndBrowser(server, browser));

  test("opens at the newest messages with a bounded DOM", async () => {
    await openConversation(page, "Bob");
    // The largest number of messages the page ever holds, whatever the step.
    await page.evaluate(() => {
      window.__maxMessages = 0;
      const count = () => {
        const n = document.querySelectorAll('[data-testid="message"]').length;
        if (n > window.__maxMessages) window.__maxMessages = n;
      };
      count();
      new MutationObserver(count).observe(document.body, { subtree: true, childList: true });
    });
    const v = await waitUntil(
      async () => {
        const x = await view(page);
        return x.onScreen.includes(Number(newest.body.slice(4))) && x;
      },
      { message: `the newest message (${newest.body}) on screen` },
    );
    assert.ok(v.count > 0 && v.count <= MAX_DOM, `messages in the page: ${v.count}`);
    assert.equal(v.maxSeq, newest.seq, "the newest message is the last one held");
    assert.ok(v.consecutive, "the messages shown are consecutive, in order, once each");
  });

  test(`scrolls up ${STEPS_UP} times: older messages appear, the DOM stays bounded, the view does not jump`, async () => {
    const t0 = Date.now();
    let v = await view(page);
    const startMin = v.minNum;
    const jumps = [];
    for (let step = 1; step <= STEPS_UP; step++) {
      const before = v;
      const top = await scrollToTop(page);
      assert.ok(top, "a message at the top of the view");
      // Older messages come in above (a page from the server, or a window moved over held ones).
      v = await waitUntil(
        async () => {
          const x = await view(page);
          return x.minSeq < before.minSeq && x;
        },
        { timeout: 10_000, message: `older messages above ${JSON.stringify(top.text)} (step ${step}; the view held seq ${before.minSeq}–${before.maxSeq}, ${before.count} messages)` },
      );
      assert.ok(v.count <= MAX_DOM, `step ${step}: ${v.count} messages in the page`);
      assert.ok(v.consecutive, `step ${step}: the messages shown are consecutive, in order, once each`);
      // Sent 32 at a time, the numbers follow the room's order only roughly: compare the middle of each lot.
      const added = v.pairs.filter(([seq]) => seq < before.minSeq).map(([, n]) => n);
      const held = before.pairs.map(([, n]) => n);
      assert.ok(median(added) < median(held), `step ${step}: the messages put in above are older (numbers around ${median(added)}, below ${median(held)})`);
      // The message that was at the top is still there, at about the same place.
      const after = await waitUntil(
        () =>
          page.evaluate((key) => {
            const li = document.querySelector(`.timeline [data-key="${key}"]`);
            return li ? { top: li.getBoundingClientRect().top } : null;
          }, top.key),
        { timeout: 2000, message: `${top.text} to stay in the page` },
      );
      jumps.push(Math.round(after.top - top.top));
      assert.ok(Math.abs(after.top - top.top) <= 30, `step ${step}: ${top.text} moved by ${Math.round(after.top - top.top)} px when older messages came in`);
    }
    const seconds = (timings.up = (Date.now() - t0) / 1000);
    console.log(`scrolled up ${STEPS_UP} times in ${seconds.toFixed(1)} s: numbers ${startMin} → ${v.minNum}, at most ${v.maxEver} messages in the page, moves of the top message ${JSON.stringify(jumps)} px`);
    assert.ok(v.maxEver <= MAX_DOM, `the page never held more than ${MAX_DOM} messages (held ${v.maxEver})`);
    assert.ok(startMin - v.minNum >= STEPS_UP * 25, `went back a long way (${startMin} → ${v.minNum})`);
  });

  test("scrolling down brings newer messages back, the DOM still bounded", async () => {
    const t0 = Date.now();
    let v = await view(page);
    for (let step = 1; step <= STEPS_DOWN; step++) {
      const before = v;
      await page.evaluate(() => {
        const el = document.querySelector(".timeline");
        el.scrollTop = el.scrollHeight;
      });
      v = await waitUntil(
        async () => {
          const x = await view(page);
          return x.maxSeq > before.maxSeq && x;
        },
        { timeout: 10_000, message: `newer messages below (step ${step}; the view held seq ${before.minSeq}–${before.maxSeq})` },
      );
      assert.ok(v.count <= MAX_DOM, `step ${step}: ${v.count} messages in the page`);
      assert.ok(v.consecutive, `step ${step}: the messages shown are consecutive, in order, once each`);
      const added = v.pairs.filter(([seq]) => seq > before.maxSeq).map(([, n]) => n);
      const held = before.pairs.map(([, n]) => n);
      assert.ok(median(added) > median(held), `step ${step}: the messages put in below are newer (numbers around ${median(added)}, above ${median(held)})`);
    }
    timings.down = (Date.now() - t0) / 1000;
    console.log(`scrolled down ${STEPS_DOWN} times in ${timings.down.toFixed(1)} s: now at numbers ${v.minNum}–${v.maxNum}`);
  });

  test("a message arriving while scrolled up: \"New messages\" goes to the newest", async () => {
    const t0 = Date.now();
    const text = "msg 10001 — still there?";
    const sent = await server.sendText(bob, room.id, text);
    const button = page.getByRole("button", { name: "New messages" });
    await button.waitFor();
    // It arrived below the window: the view stayed where the user is.
    let v = await view(page);
    assert.ok(!v.onScreen.includes(Number(newest.body.slice(4))), "still scrolled up when it arrived");
    await button.click();
    v = await waitUntil(
      async () => {
        const x = await view(page);
        return x.maxSeq === sent.seq && (await messages(page, text).isVisible()) && x;
      },
      { message: "the new message on screen" },
    );
    assert.ok(v.count <= MAX_DOM, `${v.count} messages in the page`);
    assert.ok(v.consecutive, "the messages shown are consecutive, in order, once each");
    assert.ok(v.onScreen.includes(Number(newest.body.slice(4))), `${newest.body}, the newest before it, is on screen too`);
    await button.waitFor({ state: "detached" });
    const seconds = (Date.now() - t0) / 1000;
    console.log(`back to the newest in ${seconds.toFixed(1)} s; scroll phase ${(timings.up + timings.down + seconds).toFixed(1)} s; at most ${v.maxEver} messages in the page`);
    assert.ok(v.maxEver <= MAX_DOM, `the page never held more than ${MAX_DOM} messages (held ${v.maxEver})`);
    assert.deepEqual(page.errors, [], "no page errors");
  });
});
