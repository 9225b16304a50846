import { defineConfig } from 'vite';

// The app's vite config, as the README's "Install in your app" gives it.
export default defineConfig({
  build: { outDir: 'dist-vite' },
});
