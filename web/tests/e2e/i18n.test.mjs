// The Chinese and English UI on a desktop: a zh-CN browser gets Chinese on
// login, conversations and chat; switching the language in the UI works and
// is remembered after a reload. Also takes the desktop screenshots when
// ROOMY_SCREENSHOTS=1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  connState,
  expectMessageCount,
  newUserPage,
  openConversation,
  screenshot,
  uname,
  startServerAndBrowser,
  stopServerAndBrowser,
} from "./harness.mjs";
import { seedConversation } from "./scenes.mjs";

describe("languages (desktop)", () => {
  let server;
  let browser;
  let users;

  before(async () => {
    ({ server, browser } = await startServerAndBrowser());
    users = await seedConversation(server, uname("lin"), uname("sam"));
  });

  after(() => stopServerAndBrowser(server, browser));

  test("a zh-CN browser gets the Chinese UI: login, conversations, chat", async () => {
    const { context, page } = await newUserPage(browser, server, { locale: "zh-CN" });
    try {
      await page.goto("/");
      await page.getByRole("heading", { name: "登录" }).waitFor();
      assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
      await page.getByLabel("用户名").fill(users.a.username);
      await page.getByLabel("密码", { exact: true }).fill(users.a.password);
      await page.getByRole("link", { name: "还没有账号？立即注册" }).waitFor();
      await page.getByRole("button", { name: "以访客身份进入" }).waitFor();
      await page.getByLabel("用户名").fill("");
      await page.getByLabel("密码", { exact: true }).fill("");
      await screenshot(page, "login-desktop-zh");
      await page.getByLabel("用户名").fill(users.a.username);
      await page.getByLabel("密码", { exact: true }).fill(users.a.password);
      await page.getByRole("button", { name: "登录", exact: true }).click();

      await connState(page, "online");
      await page.getByTestId("connection-state").getByText("已连接").waitFor();
      await page.getByRole("heading", { name: "聊天" }).waitFor();
      await page.getByText("选择一个会话开始聊天。").waitFor();
      await page.getByRole("navigation", { name: "主导航" }).getByRole("link", { name: "好友" }).waitFor();

      await openConversation(page, users.b.nickname);
      await page.getByPlaceholder("输入消息…").waitFor();
      await page.getByRole("button", { name: "发送", exact: true }).waitFor();
      // The server's English system notice is shown in Chinese.
      await page.locator('[data-testid="message"][data-kind="system"]').filter({ hasText: "你们已经是好友了" }).waitFor();
      await expectMessageCount(page, "周末一起去爬山吗？", 1);
      await page.getByText("今天").first().waitFor();
      await screenshot(page, "chat-desktop-zh");

      await page.getByRole("navigation", { name: "主导航" }).getByRole("link", { name: "好友" }).click();
      await page.getByRole("heading", { name: "好友", exact: true }).waitFor();
      await page.getByRole("heading", { name: "我的好友" }).waitFor();
      await page.locator('[data-testid="friend"]').filter({ hasText: users.b.nickname }).waitFor();
      await screenshot(page, "friends-desktop-zh");
    } finally {
      await context.close();
    }
  });

  test("the English UI, and switching language is remembered after a reload", async () => {
    const { context, page } = await newUserPage(browser, server, { locale: "en-US" });
    try {
      await page.goto("/login");
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      await screenshot(page, "login-desktop-en");
      await page.getByLabel("Username").fill(users.b.username);
      await page.getByLabel("Password", { exact: true }).fill(users.b.password);
      await page.getByRole("button", { name: "Log in", exact: true }).click();
      await connState(page, "online");
      await page.getByRole("heading", { name: "Chats" }).waitFor();
      await openConversation(page, users.a.nickname);
      await page.locator('[data-testid="message"][data-kind="system"]').filter({ hasText: "You are friends now. Start chatting!" }).waitFor();
      await expectMessageCount(page, "周末一起去爬山吗？", 1);
      await screenshot(page, "chat-desktop-en");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Friends" }).click();
      await page.getByRole("heading", { name: "My friends" }).waitFor();
      await page.locator('[data-testid="friend"]').filter({ hasText: users.a.nickname }).waitFor();
      await screenshot(page, "friends-desktop-en");
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Chats" }).click();

      // English → Chinese in the UI, kept after a reload.
      await page.getByRole("combobox", { name: "Language" }).selectOption("zh-CN");
      await page.getByRole("heading", { name: "聊天" }).waitFor();
      await page.getByTestId("connection-state").getByText("已连接").waitFor();
      assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
      await page.reload();
      await connState(page, "online");
      await page.getByRole("heading", { name: "聊天" }).waitFor();
      await page.getByRole("button", { name: "退出登录" }).waitFor();

      // And back to English, also kept; the login page follows the choice.
      await page.getByRole("combobox", { name: "语言" }).selectOption("en");
      await page.getByRole("heading", { name: "Chats" }).waitFor();
      await page.reload();
      await connState(page, "online");
      await page.getByRole("heading", { name: "Chats" }).waitFor();
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
    }
  });

  test("a zh-CN browser whose user chose English keeps English", async () => {
    const { context, page } = await newUserPage(browser, server, { locale: "zh-CN" });
    try {
      await page.goto("/login");
      await page.getByRole("heading", { name: "登录" }).waitFor();
      await page.getByRole("combobox", { name: "语言" }).selectOption("en");
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Log in" }).waitFor();
      assert.equal(await page.locator("html").getAttribute("lang"), "en");
    } finally {
      await context.close();
    }
  });
});
