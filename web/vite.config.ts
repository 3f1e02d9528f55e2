/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The server under development listens here; the Rust binary serves the
// built client itself, so this proxy only matters for `npm run dev`.
const backend = "http://127.0.0.1:18180";

export default defineConfig({
  base: "/",
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Inlined assets would become data: URLs inside CSS/JS; keeping every
    // asset a file keeps the CSP simple and the output easy to diff.
    assetsInlineLimit: 0,
    sourcemap: false,
    modulePreload: { polyfill: false },
    target: "es2022",
  },
  server: {
    port: 18181,
    strictPort: true,
    proxy: {
      "/api": { target: backend, ws: true, changeOrigin: false },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
