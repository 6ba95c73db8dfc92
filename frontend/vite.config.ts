/// <reference types="vitest/config" />
// The designer is built into ../static/app/ with a manifest; Django's template tags (django-vite) read it to
// link the hashed assets, so Django serves the app behind its session login.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [react()],
  base: "/static/app/",
  build: {
    outDir: "../static/app",
    emptyOutDir: true,
    manifest: "manifest.json",
    rollupOptions: { input: "src/main.tsx" },
    chunkSizeWarningLimit: 2000,
  },
  server: { origin: "http://127.0.0.1:5173" },
  test: { environment: "jsdom", include: ["src/**/*.test.ts", "src/**/*.test.tsx"] },
});
