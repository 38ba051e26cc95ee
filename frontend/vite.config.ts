import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The Go server embeds dist/ (see embed.go) and serves it at the site root,
// falling back to index.html for client-side routes, so assets use absolute
// /assets/... paths. dist/ is committed: keep the build deterministic (no
// timestamps, no absolute paths, no source maps that embed local paths).
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    assetsDir: 'assets',
  },
  server: {
    // `npm run dev` proxies the API (and ingest, for e2e runs against the
    // dev server) to a locally running `herald dev`.
    proxy: {
      '/api': process.env.HERALD_URL ?? 'http://127.0.0.1:8080',
      '/v1': process.env.HERALD_URL ?? 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
