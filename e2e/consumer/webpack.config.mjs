// The same app as a webpack 5 build: ts-loader for TypeScript, html-webpack-plugin for the page
// (vite's index.html, without the script tag vite reads), public/ (the models) copied as vite
// copies it.
import { readFileSync } from 'node:fs';
import CopyPlugin from 'copy-webpack-plugin';
import HtmlWebpackPlugin from 'html-webpack-plugin';

export default {
  entry: './src/main.ts',
  output: { path: new URL('dist-webpack', import.meta.url).pathname, clean: true },
  // TypeScript's ESM imports name the emitted file ('./documented.js'): look for the .ts.
  resolve: { extensions: ['.ts', '.js'], extensionAlias: { '.js': ['.ts', '.js'] } },
  module: {
    rules: [
      {
        test: /\.ts$/,
        loader: 'ts-loader',
        exclude: /node_modules/,
        // `tsc` checks the types before webpack runs (package.json's build:webpack).
        options: { transpileOnly: true, compilerOptions: { noEmit: false } },
      },
    ],
  },
  plugins: [
    new HtmlWebpackPlugin({
      templateContent: readFileSync('index.html', 'utf8').replace(/<script[^>]*><\/script>/, ''),
      scriptLoading: 'module',
    }),
    new CopyPlugin({ patterns: [{ from: 'public' }] }),
  ],
  performance: { hints: false },
};
