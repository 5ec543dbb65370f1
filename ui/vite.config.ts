/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The app embeds dist/ (src-tauri/tauri.conf.json, frontendDist). Everything is bundled into
// files so the strict CSP (script-src 'self', style-src 'self') holds: no inline scripts or
// styles, no eval.
export default defineConfig({
  clearScreen: false,
  build: {
    target: "es2021",
    outDir: "dist",
    emptyOutDir: true,
    // A module preload polyfill would be an inline script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: "jsdom",
    globals: true,
  },
});
