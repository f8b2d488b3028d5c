/**
 * The baseline for the profile page: a bare Express 5 app serving an HTML page, in its own
 * process. The page is the very HTML the app's /profile answered for the signed-in bench user
 * (BARE_PAGE_FILE, captured by bench/app-bench.ts), sent with `res.send` as the app's
 * `res.render` ends up doing, so both sides put the same bytes on the wire and the ratio
 * measures what the app does around them: session, passport, helmet, the tenant calls and
 * the template. Listens on a free port on 127.0.0.1 and prints `READY <port>`.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { stopWithParent } from './support.ts';

const file = process.env.BARE_PAGE_FILE;
if (!file) throw new Error('BARE_PAGE_FILE is not set');
const page = readFileSync(file, 'utf8');

const app = express();
app.get('/page', (_req, res) => {
  res.type('html').send(page);
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});
server.keepAliveTimeout = 60_000;
stopWithParent(server, { onStdinEnd: true });
