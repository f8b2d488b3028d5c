/**
 * The floor under the profile page: what the packages the app is built on cost by themselves,
 * in its own process. Express 5 with the app's own security headers (Helmet), form parser,
 * express-session with the app's settings and its SQLite session store, and passport's
 * session, serving the very HTML of the app's /profile (BARE_PAGE_FILE) to a signed-in
 * session: no CSRF token, template, tenant call or database read of the app's own. The app
 * cannot serve its profile faster than this on the same machine.
 *
 * GET /floor/sign-in starts a session whose passport user has the shape and size of the app's
 * (FLOOR_SESSION_USER, JSON: the bench passes the app's own); GET /page answers 200 with the
 * page for a signed-in session, 401 otherwise. Listens on a free port on 127.0.0.1 and prints
 * `READY <port>`.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Passport } from 'passport';
import { openAppDatabase } from '../src/app/app-database.ts';
import { migrateApp } from '../src/app/migrations/app-migrations.ts';
import { sessionMiddleware } from '../src/app/sessions/session-middleware.ts';
import { KyselySessionStore } from '../src/app/sessions/session-store.ts';
import { securityHeaders } from '../src/app/web/security-headers.ts';
import { stopWithParent } from './support.ts';

const file = process.env.BARE_PAGE_FILE;
const user = JSON.parse(process.env.FLOOR_SESSION_USER ?? 'null') as Express.User | null;
if (!file || !user) throw new Error('BARE_PAGE_FILE and FLOOR_SESSION_USER must be set');
const page = readFileSync(file, 'utf8');

const dataDir = mkdtempSync(join(tmpdir(), 'accord-app-floor-'));
const database = openAppDatabase({ sqliteFile: join(dataDir, 'app.sqlite') });
await migrateApp(database);
const store = new KyselySessionStore({ db: database.db });

const passport = new Passport();
passport.serializeUser((u, done) => done(null, u));
passport.deserializeUser((u: Express.User, done) => done(null, u));

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(securityHeaders());
app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 50 }));
app.use(sessionMiddleware({ secret: 'floor-'.repeat(8), store, secure: false, proxy: false, ttlSeconds: 86_400 }));
app.use(passport.session());
app.get('/floor/sign-in', (req, res, next) => {
  req.logIn(user, (err) => (err ? next(err) : res.send('signed in')));
});
app.get('/page', (req, res) => {
  if (!req.user) {
    res.sendStatus(401);
    return;
  }
  res.type('html').send(page);
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});
server.keepAliveTimeout = 60_000;
stopWithParent(server, { close: () => database.close(), dataDir, onStdinEnd: true });
