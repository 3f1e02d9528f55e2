import { describe, expect, it } from "vitest";
import { en } from "./en";
import { zhCN } from "./zh-CN";
import { detectLang, format } from "./index";

describe("dictionaries", () => {
  it("have exactly the same keys", () => {
    const a = Object.keys(en).sort();
    const b = Object.keys(zhCN).sort();
    expect(b.filter((k) => !a.includes(k))).toEqual([]);
    expect(a.filter((k) => !b.includes(k))).toEqual([]);
  });

  it("have no empty strings", () => {
    for (const [k, v] of [...Object.entries(en), ...Object.entries(zhCN)]) expect(v.trim(), k).not.toBe("");
  });

  it("use the same placeholders in both languages", () => {
    const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const k of Object.keys(en) as (keyof typeof en)[]) expect(vars(zhCN[k]), k).toEqual(vars(en[k]));
  });

  it("have both plural forms for every counted phrase", () => {
    for (const k of Object.keys(en)) {
      if (k.endsWith(".one")) expect(Object.keys(en)).toContain(k.replace(/\.one$/, ".other"));
    }
  });
});

describe("language choice", () => {
  it("prefers the stored choice, then the browser", () => {
    expect(detectLang("en", ["zh-CN"])).toBe("en");
    expect(detectLang(null, ["zh-TW", "en"])).toBe("zh-CN");
    expect(detectLang(null, ["fr", "en-GB"])).toBe("en");
    expect(detectLang(null, ["fr"])).toBe("en");
    expect(detectLang("xx", ["zh"])).toBe("zh-CN");
  });

  it("fills placeholders", () => {
    expect(format("{a} and {b}", { a: 1, b: "x" })).toBe("1 and x");
    expect(format("{missing}", {})).toBe("{missing}");
  });
});
