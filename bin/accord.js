#!/usr/bin/env node
// Runs the compiled CLI (`npm run build` writes dist/); in development `npm run accord` runs the TypeScript.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('accord: dist/cli.js is missing. Run `npm run build` first (or, in development, `npm run accord -- <command>`).');
  process.exit(1);
}
await import(cli.href);
