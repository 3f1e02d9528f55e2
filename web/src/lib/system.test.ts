import { describe, expect, it } from "vitest";
import { translate } from "../i18n";
import { systemText } from "./system";

const zh = (body: string) => systemText(body, (k, v) => translate("zh-CN", k, v));
const en = (body: string) => systemText(body, (k, v) => translate("en", k, v));

describe("system notices", () => {
  it("read back in English as the server wrote them", () => {
    for (const s of ["You are friends now. Start chatting!", "alice revoked a message", "alice created the group Weekend", "alice added bob, carol", "bob left the group", "alice made bob the owner of the group", "An administrator removed a message"]) expect(en(s)).toBe(s);
  });

  it("are translated", () => {
    expect(zh("You are friends now. Start chatting!")).toBe("你们已经是好友了，开始聊天吧！");
    expect(zh("alice created the group Weekend")).toBe("alice 创建了群聊 Weekend");
    expect(zh("alice added bob, carol")).toBe("alice 邀请 bob, carol 加入了群聊");
    expect(zh("alice removed bob")).toBe("alice 将 bob 移出了群聊");
  });

  it("leave unknown text alone, and keep names as text", () => {
    expect(zh("something new")).toBe("something new");
    expect(zh("<img src=x onerror=alert(1)> left the group")).toBe("<img src=x onerror=alert(1)> 退出了群聊");
  });
});
