// The phone width (360×740, touch): login, conversation list, open a chat,
// send, back — all usable with no horizontal scrolling, in both languages.
// Takes the phone screenshots when ROOMY_SCREENSHOTS=1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  connState,
  expectMessageCount,
  screenshot,
  sendText,
  uname,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";
import { seedConversation } from "./scenes.mjs";

const PHONE = { width: 360, height: 740 };

describe("phone width", () => {
  let server;
  let browser;
  let users;

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    users = await seedConversation(server, uname("phn"), uname("pho"));
  });

  after(() => stopServerAndBrowser(server, browser));

  async function phonePage(locale) {
    const context = await browser.newContext({ baseURL: server.url, locale, viewport: PHONE, deviceScaleFactor: 2, isMobile: true, hasTouch: true, timezoneId: "UTC" });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(String(e)));
    return { context, page };
  }

  /** No horizontal scrolling: the page is no wider than the screen. */
  async function assertFits(page, where) {
    const { scrollWidth, innerWidth, wide } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      // Visible elements sticking out of the right edge.
      wide: [...document.querySelectorAll("body *")]
        .filter((el) => {
          const r = el.getBoundingClientRect();
          return r.width > 0 && r.height > 0 && r.right > window.innerWidth + 1 && getComputedStyle(el).visibility !== "hidden";
        })
        .slice(0, 5)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`),
    }));
    assert.ok(scrollWidth <= PHONE.width, `${where}: scrollWidth ${scrollWidth} > ${PHONE.width} (innerWidth ${innerWidth}; wide: ${wide.join(", ")})`);
  }

  for (const [lang, locale, t] of [
    ["en", "en-US", { login: "Log in", username: "Username", password: "Password", chats: "Chats", back: "Back", message: "Message" }],
    ["zh", "zh-CN", { login: "登录", username: "用户名", password: "密码", chats: "聊天", back: "返回", message: "消息" }],
  ]) {
    test(`login, list, chat and back at 360 px (${lang})`, async () => {
      const { context, page } = await phonePage(locale);
      try {
        const me = lang === "en" ? users.b : users.a;
        const peer = lang === "en" ? users.a : users.b;
        await page.goto("/login");
        await page.getByRole("heading", { name: t.login, exact: true }).waitFor();
        await assertFits(page, "login");
        await screenshot(page, `login-phone-${lang}`);
        await page.getByLabel(t.username).fill(me.username);
        await page.getByLabel(t.password, { exact: true }).fill(me.password);
        await page.getByRole("button", { name: t.login, exact: true }).click();
        await connState(page, "online");

        // The conversation list fills the screen.
        const conv = page.locator('[data-testid="conversation"]').filter({ hasText: peer.nickname });
        await conv.waitFor();
        const box = await conv.boundingBox();
        assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width, `conversation row within the screen: ${JSON.stringify(box)}`);
        await assertFits(page, "conversation list");
        await screenshot(page, `conversations-phone-${lang}`);

        // Open the chat: it replaces the list, with a back button.
        await conv.tap();
        await page.locator("#chat-title").filter({ hasText: peer.nickname }).waitFor();
        await expectMessageCount(page, "周末一起去爬山吗？", 1);
        assert.equal(await conv.isVisible(), false, "the list is hidden while a chat is open");
        const composer = page.getByRole("textbox", { name: t.message });
        await composer.waitFor();
        const cb = await composer.boundingBox();
        assert.ok(cb && cb.y + cb.height <= PHONE.height && cb.x + cb.width <= PHONE.width, `composer on screen: ${JSON.stringify(cb)}`);
        await assertFits(page, "chat");
        const text = lang === "en" ? "Sent from a phone 📱" : "从手机发送 📱";
        await sendText(page, text);
        await expectMessageCount(page, text, 1);
        // The long link wraps instead of widening the page.
        await assertFits(page, "chat after sending");
        await screenshot(page, `chat-phone-${lang}`);

        await page.getByRole("button", { name: t.back, exact: true }).tap();
        await conv.waitFor();
        await page.getByRole("heading", { name: t.chats, exact: true }).waitFor();
        await assertFits(page, "back on the list");
        assert.deepEqual(page.errors, []);
      } finally {
        await context.close();
      }
    });
  }
});
