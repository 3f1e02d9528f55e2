import { describe, expect, it } from "vitest";
import { cleanText, linkify, safeHref } from "./text";

describe("linkify", () => {
  it("links http and https only", () => {
    const s = linkify("see https://example.com/a?b=1, and http://x.org.");
    expect(s.filter((x) => x.kind === "link").map((x) => (x.kind === "link" ? x.href : ""))).toEqual(["https://example.com/a?b=1", "http://x.org/"]);
    expect(s.map((x) => x.text).join("")).toBe("see https://example.com/a?b=1, and http://x.org.");
  });

  it("never links javascript:, data: or other schemes", () => {
    for (const bad of ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x", "file:///etc/passwd", "jav&#x09;ascript:alert(1)", "//evil.example"]) {
      expect(linkify(bad).every((x) => x.kind === "text"), bad).toBe(true);
    }
    expect(safeHref("javascript:alert(1)")).toBeNull();
  });

  it("keeps markup as text", () => {
    const corpus = [
      "<script>alert(1)</script>",
      '<img src=x onerror="alert(1)">',
      '<svg onload="alert(1)"><script>alert(2)</script></svg>',
      '"><a href="javascript:alert(1)">x</a>',
      "https://example.com/\"><script>alert(1)</script>",
    ];
    for (const c of corpus) {
      const segs = linkify(c);
      for (const s of segs) if (s.kind === "link") expect(s.href.startsWith("https://")).toBe(true);
      expect(segs.map((x) => x.text).join("")).toBe(c);
    }
  });

  it("does not link inside a quoted attribute-like tail", () => {
    const segs = linkify('https://example.com/"onmouseover="alert(1)');
    const link = segs.find((s) => s.kind === "link");
    expect(link?.kind === "link" && link.href).toBe("https://example.com/");
  });
});

describe("bidi controls", () => {
  it("are removed from shown text", () => {
    expect(cleanText("invoice\u202Egpj.exe")).toBe("invoicegpj.exe");
    expect(cleanText("a\u2066b\u2069c\u200F")).toBe("abc");
    expect(cleanText(null)).toBe("");
  });
});
