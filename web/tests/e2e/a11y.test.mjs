// axe on the main screens (login, conversation list, chat, friends; English
// and Chinese): no violation of impact "serious" or "critical".
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { AxeBuilder } from "@axe-core/playwright";
import {
  connState,
  expectMessageCount,
  newUserPage,
  openConversation,
  uname,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";
import { seedConversation } from "./scenes.mjs";

async function axe(page, screen) {
  const res = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const text = bad
    .map((v) => `- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${v.nodes.slice(0, 5).map((n) => `    ${n.target.join(" ")}: ${n.failureSummary?.replace(/\n/g, " ")}`).join("\n")}`)
    .join("\n");
  assert.equal(bad.length, 0, `${screen}: ${bad.length} serious/critical axe violation(s):\n${text}`);
}

describe("accessibility (axe)", () => {
  let server;
  let browser;
  let users;

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    users = await seedConversation(server, uname("axe"), uname("axf"));
  });

  after(() => stopServerAndBrowser(server, browser));

  for (const [lang, locale] of [
    ["en", "en-US"],
    ["zh", "zh-CN"],
  ]) {
    test(`login, conversation list, chat and friends screens (${lang})`, async () => {
      const { context, page } = await newUserPage(browser, server, { locale });
      try {
        const u = users.a;
        await page.goto("/login");
        await page.locator("#username").waitFor();
        await axe(page, "login");
        await page.goto("/register");
        await page.locator("#nickname").waitFor();
        await axe(page, "register");

        await page.goto("/login");
        await page.locator("#username").fill(u.username);
        await page.locator("#password").fill(u.password);
        await page.locator("form button[type=submit]").first().click();
        await connState(page, "online");
        await page.locator('[data-testid="conversation"]').first().waitFor();
        await axe(page, "conversation list");

        await openConversation(page, users.b.nickname);
        await expectMessageCount(page, "周末一起去爬山吗？", 1);
        await axe(page, "chat");
        // With a message menu open, and in a group.
        await page.locator('[data-testid="message"][data-kind="text"]').last().locator(".msg-actions button").first().click();
        await axe(page, "chat with a message menu");
        await page.keyboard.press("Escape");
        await openConversation(page, "Hiking club");
        await page.locator('[data-testid="message"]').filter({ hasText: "See you all there!" }).waitFor();
        await axe(page, "group chat");

        await page.locator('nav a[href="/friends"]').click();
        await page.locator('[data-testid="friend-request"]').waitFor();
        await page.locator('[data-testid="friend"]').first().waitFor();
        await axe(page, "friends");

        await page.locator('nav a[href="/favorites"]').click();
        await page.locator("main h1").waitFor();
        await axe(page, "favorites");
      } finally {
        await context.close();
      }
    });
  }
});
