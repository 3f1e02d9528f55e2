/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The server under development (`cargo run`, or ROOMY_DEV_BACKEND); the
// binary serves the built client itself, so this proxy only matters for
// `npm run dev`.
// (Node's own `process`, declared here rather than pulling in @types/node
// for one line of configuration.)
declare const process: { env: Record<string, string | undefined> };
const backend = process.env.ROOMY_DEV_BACKEND ?? "http://127.0.0.1:8080";

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
    port: 5173,
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
