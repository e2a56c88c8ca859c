import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Relative asset URLs, so the same build works at `/` of the Watershed binary or under any
  // sub-path of a separate static host; routing is by hash, so no server rewrites are needed.
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // `npm run dev` talks to a local `watershed up` through the dev server, same-origin as in production.
  server: { proxy: { '/v1': 'http://127.0.0.1:8080' } },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
