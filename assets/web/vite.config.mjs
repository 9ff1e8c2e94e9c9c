// Build of the phone quick-test page: `npm run build:web` writes dist/, which
// the <Stage>-Web stack deploys (its config.json is written at deploy time).
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline scripts: the page runs under a strict Content-Security-Policy.
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
  },
  server: { port: 5173, strictPort: true },
});
