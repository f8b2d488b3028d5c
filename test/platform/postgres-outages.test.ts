/**
 * PostgreSQL going away under a running tenant: connections terminated by the server
 * (`pg_terminate_backend`, as a restart or failover does), and a TCP proxy between the tenant
 * and PostgreSQL that refuses connections or swallows every byte. The process must live on,
 * log the outage once, answer 503 within its timeouts, and answer again without a restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createPostgresPool, DEFAULT_POSTGRES_TIMEOUTS } from '../../src/platform/postgres-pool.ts';
import { migrateTenant } from '../../src/tenant/migrations/tenant-migrations.ts';
import { openTenantDatabase, type Database } from '../../src/tenant/tenant-database.ts';
import { authorize, browser, csrfOf, registerRelyingParty } from '../helpers/login-flow.ts';
import { api, createEmailUser } from '../helpers/management.ts';
import { startTcpProxy, type ProxyMode, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startTestTenant, TEST_AUDIENCE, type TestTenant } from '../helpers/tenant.ts';

const url = process.env.DATABASE_URL;
const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);

async function admin<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Log lines as objects, to count what an outage logged. */
function capturedLogger() {
  const lines: { msg: string; event?: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('PostgreSQL connections lost under load', { skip: postgres ? false : 'DATABASE_URL is not set' }, () => {
  const schema = `accord_outage_${randomBytes(5).toString('hex')}`;
  const applicationName = `accord-outage-${randomBytes(4).toString('hex')}`;
  const log = capturedLogger();
  let database: Database;
  let t: TestTenant;

  before(async () => {
    await admin(`create schema ${schema}`);
    const withName = new URL(url!);
    withName.searchParams.set('application_name', applicationName);
    database = openTenantDatabase({
      databaseUrl: withName.toString(),
      pgSchema: schema,
      logger: log.logger,
      timeouts: { connectTimeoutMs: 1_000, statementTimeoutMs: 2_000 },
    });
    await migrateTenant(database);
    t = await startTestTenant(database, {}, { logger: log.logger });
  });
  after(async () => {
    await t?.tenant.close();
    await database?.close();
    await admin(`drop schema ${schema} cascade`);
  });

  it('keeps the process up when every connection is terminated, logs it once and answers again at once', async () => {
    const token = await t.token();
    const user = await createEmailUser(t);
    const get = () => api(t, token).get(`/users/${encodeURIComponent(user.user_id)}`);
    assert.equal((await get()).status, 200);

    const statuses: number[] = [];
    let loading = true;
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (loading) statuses.push((await get()).status);
      }),
    );
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 150));
      const killed = await admin<{ pid: number }>(
        `select pg_terminate_backend(pid) as pid from pg_stat_activity where application_name = '${applicationName}'`,
      );
      assert.ok(killed.length > 0, 'the pool had connections to terminate');
    }
    await new Promise((r) => setTimeout(r, 150));
    loading = false;
    await load;

    assert.ok(statuses.length > 0);
    assert.ok(
      statuses.every((s) => s === 200 || s === 503),
      `only successes and 503s: ${[...new Set(statuses)].join(', ')}`,
    );
    const started = Date.now();
    assert.equal((await get()).status, 200);
    assert.ok(Date.now() - started < 1_000);
    const outages = log.lines.filter((l) => l.event === 'dependency_unreachable');
    assert.ok(outages.length <= 3, `one line per outage, not per request: ${outages.length}`);
  });
});

/** No stack trace, source path or database address in an answer. */
function assertNothingInternal(text: string): void {
  assert.doesNotMatch(text, /\n\s+at |node_modules|\.ts:\d+|127\.0\.0\.1:\d+|postgres:\/\/|ECONN|Connection terminated/, text.slice(0, 500));
}

describe('PostgreSQL refused or black-holed behind a proxy', { skip: postgres ? false : 'DATABASE_URL is not set' }, () => {
  const schema = `accord_proxy_${randomBytes(5).toString('hex')}`;
  /** connect 500 ms, statement 700 ms (+1 s before the client gives up on a silent server). */
  const BOUND_MS = 2_500;
  let proxy: TcpProxy;
  let database: Database;
  let t: TestTenant;

  before(async () => {
    await admin(`create schema ${schema}`);
    const target = new URL(url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(url!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    database = openTenantDatabase({ databaseUrl: viaProxy.toString(), pgSchema: schema, timeouts: { connectTimeoutMs: 500, statementTimeoutMs: 700 } });
    await migrateTenant(database);
    t = await startTestTenant(database);
  });
  after(async () => {
    await t?.tenant.close();
    await database?.close();
    await proxy?.close();
    await admin(`drop schema ${schema} cascade`);
  });

  for (const mode of ['refuse', 'blackhole'] satisfies ProxyMode[]) {
    it(`answers 503 within the bound on every kind of route while PostgreSQL is cut (${mode}), and recovers within a second`, async (context) => {
      const token = await t.token();
      const user = await createEmailUser(t);
      const password = 'Correct-horse-9';
      const withPassword = await t.tenant.directory.createUser(
        { connection: 'Username-Password-Authentication', email: `pw-${randomBytes(4).toString('hex')}@example.com`, password },
        { id: 'test' },
      );
      const rp = await registerRelyingParty(t.tenant);
      const machine = await t.tenant.clients.create({
        name: `m2m-${randomBytes(3).toString('hex')}`,
        grantTypes: ['client_credentials'],
        scopes: ['read:users'],
      });
      const signingIn = browser(t.tenant);
      const started = await authorize(signingIn, rp);
      // A password page opened before the outage and submitted during it.
      const passwordForm = `${started.loginPath}/Username-Password-Authentication`;
      const passwordPage = await signingIn.get(passwordForm);
      assert.equal(passwordPage.status, 200, passwordPage.text.slice(0, 300));
      const signInForm = { _csrf: csrfOf(passwordPage.text), email: withPassword.email!, password };
      const getUser = () => api(t, token).get(`/users/${encodeURIComponent(user.user_id)}`);
      assert.equal((await getUser()).status, 200);

      proxy.set(mode);
      context.after(() => proxy.set('forward'));
      const timed = async <T>(request: () => PromiseLike<T>): Promise<T> => {
        const begun = Date.now();
        const res = await request();
        assert.ok(Date.now() - begun < BOUND_MS, `answered in ${Date.now() - begun} ms`);
        return res;
      };

      const management = await timed(getUser);
      assert.equal(management.status, 503, management.text);
      assert.deepEqual(management.body, {
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'The service is temporarily unavailable. Try again in a minute.',
        errorCode: 'temporarily_unavailable',
      });
      assert.equal(management.headers['retry-after'], '30');

      const tokenRes = await timed(() =>
        t.request.post('/oauth/token').type('form').send({
          grant_type: 'client_credentials',
          client_id: machine.client_id,
          client_secret: machine.client_secret,
          audience: TEST_AUDIENCE,
        }),
      );
      assert.equal(tokenRes.status, 503, tokenRes.text);
      assert.equal(tokenRes.body.error, 'temporarily_unavailable');
      assert.ok(tokenRes.headers['retry-after']);
      assertNothingInternal(tokenRes.text);

      const authorizeRes = await timed(() =>
        browser(t.tenant).get('/authorize').query({
          client_id: rp.clientId,
          response_type: 'code',
          redirect_uri: 'http://127.0.0.1:3999/callback',
          scope: 'openid',
          state: 's',
          nonce: 'n',
        }),
      );
      assert.equal(authorizeRes.status, 503, authorizeRes.text.slice(0, 300));
      assert.match(authorizeRes.text, /Sign-in is unavailable/);
      assertNothingInternal(authorizeRes.text);

      const loginPage = await timed(() => signingIn.get(started.loginPath));
      assert.equal(loginPage.status, 503, loginPage.text.slice(0, 300));
      assert.match(loginPage.text, /Sign-in is unavailable/);
      assert.ok(loginPage.headers['retry-after']);
      assertNothingInternal(loginPage.text);

      const submitted = await timed(() => signingIn.post(passwordForm).type('form').send(signInForm));
      assert.equal(submitted.status, 503, submitted.text.slice(0, 300));
      assert.match(submitted.text, /Sign-in is unavailable/);
      assert.ok(submitted.headers['retry-after']);
      assertNothingInternal(submitted.text);

      const readyz = await timed(() => t.request.get('/readyz'));
      assert.equal(readyz.status, 503);
      assert.deepEqual(readyz.body, { status: 'unavailable', checks: { database: 'unavailable' } });

      proxy.set('forward');
      const restored = Date.now();
      let res = await getUser();
      while (res.status !== 200 && Date.now() - restored < 1_000) res = await getUser();
      assert.equal(res.status, 200, `answers again within a second of PostgreSQL coming back: ${res.status}`);
      assert.equal((await signingIn.get(started.loginPath)).status, 200, 'the sign-in opened before the outage goes on');
      const resubmitted = await signingIn.post(passwordForm).type('form').send(signInForm);
      assert.equal(resubmitted.status, 303, `the same form, sent again, signs in: ${resubmitted.text.slice(0, 300)}`);
    });
  }
});

describe('PostgreSQL back after a black hole that left its connections open', { skip: postgres ? false : 'DATABASE_URL is not set' }, () => {
  it('answers again within a second, long before the connections left silent reach their timeouts', async () => {
    const target = new URL(url!);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(url!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    // The default timeouts: a silent statement holds its connection for 11 s, a silent connection attempt 5 s.
    const pool = createPostgresPool({ connectionString: viaProxy.toString(), max: 4, timeouts: DEFAULT_POSTGRES_TIMEOUTS });
    try {
      await Promise.all(Array.from({ length: 4 }, () => pool.query('select 1')));
      // The statements cut off below have the same text as the last ones each connection ran.
      await new Promise((r) => setTimeout(r, 400));
      proxy.set('blackhole');
      // More statements than connections: four on connections whose bytes are swallowed, four
      // waiting for one, and connection attempts into the black hole as those fail.
      const caught = Array.from({ length: 8 }, () =>
        pool.query('select 1').then(
          () => 'answered',
          () => 'failed',
        ),
      );
      await new Promise((r) => setTimeout(r, 1_500));
      proxy.set('forward', { keepSwallowed: true });
      const restored = Date.now();
      const answered = await Promise.race([
        pool.query<{ one: number }>('select 1 as one').then((res) => res.rows[0]!.one),
        new Promise((r) => setTimeout(() => r('no answer within a second and a half'), 1_500)),
      ]);
      assert.equal(answered, 1, `a statement after PostgreSQL came back: ${String(answered)}`);
      assert.ok(Date.now() - restored < 1_500);
      assert.ok((await Promise.all(caught)).every((outcome) => outcome === 'answered' || outcome === 'failed'));
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});
