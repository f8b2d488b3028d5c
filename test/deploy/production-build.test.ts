/**
 * `npm ci --omit=dev && npm run build && node dist/main.js` on a fresh copy of the repository:
 * no development package (tsx, type packages, supertest) is needed to build or to run, and the
 * compiled halves find their views, stylesheets and worker script from dist/.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { childEnv, freePort, ROOT, startAccord } from '../helpers/processes.ts';
import { PRODUCTION_COMMANDS } from './production-commands.ts';

const run = promisify(execFile);
const enabled = process.env.CI === 'true' || process.env.ACCORD_BUILD_TEST === '1';
if (!enabled) console.log('# Production build test skipped: it installs and compiles a fresh copy (minutes); set ACCORD_BUILD_TEST=1 (CI=true runs it).');

/** The repository as a fresh clone would have it: tracked and new unignored files, no node_modules, no dist. */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0');
  for (const file of files) {
    if (file === '' || !existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(to, file)), { recursive: true });
    cpSync(join(ROOT, file), join(to, file));
  }
}

function cookiesFrom(response: Response): string {
  return response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

describe('the accord bin without a build', () => {
  it('says to run npm run build, and fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'accord-bin-'));
    try {
      cpSync(join(ROOT, 'bin'), join(dir, 'bin'), { recursive: true });
      const result = await run(process.execPath, ['bin/accord.js', 'clients', 'list'], { cwd: dir }).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(result?.code, 1);
      assert.match(result.stderr, /dist\/cli\.js is missing\. Run `npm run build` first/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('production build on a fresh checkout', { skip: enabled ? false : 'set ACCORD_BUILD_TEST=1 or CI=true to run it', timeout: 15 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-build-'));
  const env = childEnv({});
  before(async () => {
    copyCheckout(dir);
    for (const [command, ...args] of [PRODUCTION_COMMANDS.install, PRODUCTION_COMMANDS.build]) {
      await run(command, args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 });
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('installs without development packages and builds dist/', () => {
    for (const devOnly of ['tsx', 'supertest', '@types/node']) assert.ok(!existsSync(join(dir, 'node_modules', devOnly)), `${devOnly} was installed`);
    assert.ok(existsSync(join(dir, 'dist/main.js')));
    assert.ok(existsSync(join(dir, 'dist/platform/sqlite-checkpoint-worker.mjs')));
    const scripts = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts as Record<string, string>;
    assert.equal(scripts.start, PRODUCTION_COMMANDS.start.join(' '));
  });

  it('starts both halves in production from dist/, serves pages and stops cleanly', async () => {
    const tenantPort = await freePort();
    const appPort = await freePort();
    const production = {
      ...env,
      NODE_ENV: 'production',
      DATA_DIR: join(dir, 'var'),
      TENANT_PORT: String(tenantPort),
      PORT: String(appPort),
      SESSION_SECRET: randomBytes(32).toString('base64'),
      SMTP_URL: 'smtp://127.0.0.1:2525',
    };
    const [node, ...argv] = PRODUCTION_COMMANDS.start;
    assert.equal(node, 'node');
    const accord = await startAccord(production, [], 60_000, { cwd: dir, argv });
    try {
      const tenant = `http://127.0.0.1:${tenantPort}`;
      const app = `http://127.0.0.1:${appPort}`;
      const discovery = (await fetch(`${tenant}/.well-known/openid-configuration`).then((r) => r.json())) as { issuer: string };
      assert.match(discovery.issuer, new RegExp(`^http://localhost:${tenantPort}/?$`));

      // The app's views and stylesheets, found from dist/app.
      const home = await fetch(`${app}/`);
      assert.equal(home.status, 200);
      assert.match(await home.text(), /<link rel="stylesheet" href="\/css\/app.css">/);
      assert.equal((await fetch(`${app}/css/app.css`)).status, 200);

      // Sign-in goes to the tenant, whose login page renders from dist/tenant.
      const signIn = await fetch(`${app}/login`, { redirect: 'manual' });
      assert.equal(signIn.status, 302);
      const authorize = await fetch(signIn.headers.get('location')!.replace(`http://localhost:${tenantPort}`, tenant), { redirect: 'manual' });
      assert.equal(authorize.status, 303);
      const login = await fetch(new URL(authorize.headers.get('location')!, tenant), { headers: { cookie: cookiesFrom(authorize) } });
      assert.equal(login.status, 200);
      assert.match(await login.text(), /<link rel="stylesheet" href="\/css\/tenant.css">/);
      assert.equal((await fetch(`${tenant}/css/tenant.css`)).status, 200);

      // The `accord` command runs the compiled CLI against the same database.
      const cli = await run('node', ['bin/accord.js', 'clients', 'list'], { cwd: dir, env: production });
      assert.ok(Array.isArray(JSON.parse(cli.stdout)));

      accord.child.kill('SIGTERM');
      assert.equal(await accord.exited, 0);
      assert.match(accord.output(), /"msg":"stopped"/);
    } finally {
      accord.child.kill('SIGKILL');
    }
  });
});
