/**
 * The soak (`BENCH_ONLY=soak`): Accord scaled out as README "Scaling out" describes it, under a
 * steady mixed load for BENCH_SOAK_SECONDS (300 by default; shorter only while developing).
 *
 *   - PostgreSQL: a fresh schema of DATABASE_URL, for both tenants and both apps (kept-separate
 *     choices, the apps' migrations); 20,000 seeded users.
 *   - Redis (REDIS_URL, or 127.0.0.1:6379): the apps' sessions and link-attempt limits, under a
 *     REDIS_PREFIX of this run, removed at the end.
 *   - Two tenant processes (bench/tenant-server.ts) behind one public URL, and two app processes
 *     (bench/app-server.ts) behind another: each URL is a round-robin TCP proxy in a process of
 *     its own (bench/round-robin-proxy.ts), standing in for the load balancer of deploy/. The
 *     apps are registered once (one web client, one Management API client), as in production.
 *   - SOAK_WORKERS loops in this process, each going round the kinds of work in turn: a new
 *     person's sign-in through an app (passwordless, the code read from the outbox table: a
 *     sign-in spans both tenant processes, so it must not depend on one process's memory), a
 *     sign-in that ends on "Link these accounts?" (a verified account with the same email
 *     exists), a link and an unlink through the Management API, and Management API reads.
 *
 * Printed: requests and 5xx per kind (target: no 5xx), each server's live memory (after a full
 * collection: what it keeps) and RSS after the warm-up (a tenth of the run) and at the end
 * (target: live memory within 20%; RSS, which also counts the garbage V8 lets pile up between
 * collections, is shown beside it: docs/performance.md "Scaling out"), and the directory
 * invariant in SQL at the end. Skipped, saying why, without PostgreSQL or Redis.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import type { EmbeddedTenantWiring } from '../src/app/app-config.ts';
import { APP_MANAGEMENT_SCOPES } from '../src/embedded-wiring.ts';
import { openTenantDatabase } from '../src/tenant/tenant-database.ts';
import { ClientRegistry } from '../src/tenant/clients/client-registry.ts';
import { Browser, expect, FlowError, type Page } from './app-bench.ts';
import type { BenchResult } from './logins.ts';
import { createSchema, DB_CONNECTION, EMAIL_CONNECTION, generateUsers, insertUsersPostgres, type SeedUser } from './seed.ts';
import { liveMemory } from './live-memory.ts';
import { benchPostgresUrl, cpuSeconds, freePort, postgresSchema, rssBytes, startServer } from './support.ts';

const SECONDS = Math.max(10, Number(process.env.BENCH_SOAK_SECONDS ?? 300) || 300);
const WARMUP_SECONDS = Math.max(5, Math.round(SECONDS / 10));
const WORKERS = Math.min(64, Math.max(2, Number(process.env.SOAK_WORKERS ?? 12) || 12));
const SEED_USERS = 20_000;
const PAIRS_PER_WORKER = 8;
const MEMORY_TOLERANCE = 0.2;
const REQUEST_TIMEOUT_MS = 15_000;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${fmt(bytes / 2 ** 20)} MB`);
const log = (message: string) => process.stdout.write(`${message}\n`);

type Kind = 'sign-in' | 'suggestion' | 'link/unlink' | 'api reads';
const KINDS: Kind[] = ['sign-in', 'api reads', 'link/unlink', 'suggestion'];

/** Requests by kind and status class, and the first few 5xx (for the report). */
class Tally {
  readonly requests = new Map<Kind, { total: number; byClass: Map<string, number> }>();
  readonly flows = new Map<Kind, { ok: number; failed: number }>();
  readonly serverErrors: string[] = [];
  firstFailure: string | undefined;

  count(kind: Kind, status: number, what: string): void {
    let entry = this.requests.get(kind);
    if (!entry) {
      entry = { total: 0, byClass: new Map() };
      this.requests.set(kind, entry);
    }
    entry.total++;
    const cls = `${Math.floor(status / 100)}xx`;
    entry.byClass.set(cls, (entry.byClass.get(cls) ?? 0) + 1);
    if (status >= 500 && this.serverErrors.length < 10) this.serverErrors.push(`${status} ${what}`);
  }

  flow(kind: Kind, ok: boolean, failure?: string): void {
    let entry = this.flows.get(kind);
    if (!entry) {
      entry = { ok: 0, failed: 0 };
      this.flows.set(kind, entry);
    }
    if (ok) entry.ok++;
    else {
      entry.failed++;
      this.firstFailure ??= `${kind}: ${failure}`;
    }
  }

  get total(): number {
    return [...this.requests.values()].reduce((n, e) => n + e.total, 0);
  }
  get fiveHundreds(): number {
    return [...this.requests.values()].reduce((n, e) => n + (e.byClass.get('5xx') ?? 0), 0);
  }
}

/** A browser whose every request (redirects included) is counted under the kind of work it does. */
class CountingBrowser extends Browser {
  constructor(
    roles: ReadonlyMap<string, string>,
    tenantOrigin: string,
    ip: string,
    private readonly tally: Tally,
    private readonly kind: Kind,
  ) {
    super(roles, tenantOrigin, ip, undefined);
  }

  override async request(method: 'GET' | 'POST', target: string, form?: Record<string, string>): Promise<Page> {
    const page = await super.request(method, target, form);
    this.tally.count(this.kind, page.status, `${method} ${page.url.pathname}: ${page.text.slice(0, 200)}`);
    return page;
  }
}

/** How far below the last mail id seen each read of the outbox looks again. */
const LOOK_BACK = 200;

/** Codes mailed by the tenants, read from the outbox table as they arrive (one reader for every worker). */
class Outbox {
  readonly #codes = new Map<string, string>();
  /** Ids read within the look-back window, in the order read. */
  readonly #seen = new Set<number>();
  #lastId = 0;
  #reading: Promise<void> | undefined;
  constructor(private readonly pool: pg.Pool) {}

  async takeCode(email: string): Promise<string> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const code = this.#codes.get(email);
      if (code) {
        this.#codes.delete(email);
        return code;
      }
      this.#reading ??= this.#read().finally(() => {
        this.#reading = undefined;
      });
      await this.#reading;
      if (!this.#codes.has(email)) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new FlowError(`no code was mailed to ${email}`);
  }

  async #read(): Promise<void> {
    // Ids are taken at insert and committed in any order (two tenants write at once): a row below
    // the last id seen may commit later, so the read looks back a window and skips rows it has.
    const rows = (
      await this.pool.query<{ id: string; to: string; text: string }>('select id, "to", text from mail_outbox where id > $1 order by id limit 1000', [
        Math.max(0, this.#lastId - LOOK_BACK),
      ])
    ).rows;
    for (const row of rows) {
      const id = Number(row.id);
      if (this.#seen.has(id)) continue;
      this.#seen.add(id);
      this.#lastId = Math.max(this.#lastId, id);
      const code = /^\s+(\d{6})\s*$/m.exec(row.text)?.[1];
      if (code) this.#codes.set(row.to, code);
    }
    for (const id of this.#seen) {
      if (id > this.#lastId - LOOK_BACK) break;
      this.#seen.delete(id);
    }
  }
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** A passwordless sign-in through the app, ending on the page the app shows first. */
async function signIn(browser: Browser, appUrl: string, email: string, outbox: Outbox): Promise<Page> {
  const login = await browser.request('GET', `${appUrl}/login?connection=email`);
  const form = await browser.follow(login);
  expect(
    form.status === 200 && /\/login\/[^/]+\/email$/.test(form.url.pathname),
    `expected the email form, got ${form.status} at ${form.url.pathname}: ${form.text.slice(0, 200)}`,
  );
  const sent = await browser.request('POST', form.url.href, { _csrf: csrfOf(form.text), email });
  expect(sent.status === 303 && sent.location, `code request: ${sent.status} ${sent.text.slice(0, 200)}`);
  const codePage = await browser.request('GET', sent.location);
  expect(codePage.status === 200, `code page: ${codePage.status}`);
  const code = await outbox.takeCode(email);
  const entered = await browser.request('POST', `${form.url.href}/code`, { _csrf: csrfOf(codePage.text), email, code });
  expect(entered.status === 303, `code entry: ${entered.status} ${entered.text.slice(0, 200)}`);
  return browser.follow(entered);
}

function redisReachable(url: string): Promise<boolean> {
  const parsed = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The directory's invariant, in SQL: every identity's owner exists, every user owns exactly one main identity, its own. */
async function invariantViolations(pool: pg.Pool): Promise<{ orphans: number; withoutOneMain: number; wrongMain: number; users: number; identities: number }> {
  const count = async (text: string) => Number((await pool.query<{ n: string }>(text)).rows[0]!.n);
  return {
    orphans: await count('select count(*) as n from identities i where not exists (select 1 from users u where u.user_id = i.owner_id)'),
    withoutOneMain: await count(
      'select count(*) as n from users u where (select count(*) from identities i where i.owner_id = u.user_id and i.is_main = 1) <> 1',
    ),
    wrongMain: await count(`select count(*) as n from identities where is_main = 1 and owner_id <> provider || '|' || user_id`),
    users: await count('select count(*) as n from users'),
    identities: await count('select count(*) as n from identities'),
  };
}

export async function benchSoak(): Promise<BenchResult[]> {
  const postgres = benchPostgresUrl();
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (postgres.url === undefined) {
    log(`skipped: ${postgres.reason}`);
    return [{ name: 'soak', value: `skipped: ${postgres.reason}` }];
  }
  if (!(await redisReachable(redisUrl))) {
    const reason = `no Redis answers at ${redisUrl} (set REDIS_URL to run it)`;
    log(`skipped: ${reason}`);
    return [{ name: 'soak', value: `skipped: ${reason}` }];
  }
  const results: BenchResult[] = [];
  const schema = await postgresSchema(postgres.url, 'soak');
  const redisPrefix = `accord-bench-${randomBytes(4).toString('hex')}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-soak-'));
  const pool = new pg.Pool({ connectionString: schema.url, max: 4 });
  const servers: Awaited<ReturnType<typeof startServer>>[] = [];
  try {
    // ---- data: the tenant's schema, the apps' clients (registered once), users to read, link and suggest.
    await createSchema(join(dataDir, 'unused.sqlite'), schema.url);
    const [tenantPort, appPort, ...ports] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const issuer = `http://127.0.0.1:${tenantPort}`;
    const appUrl = `http://127.0.0.1:${appPort}`;
    const database = openTenantDatabase({ databaseUrl: schema.url });
    const registry = new ClientRegistry(database.db);
    const web = await registry.provision({
      name: 'Accord app (soak)',
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: [],
      redirectUris: [`${appUrl}/callback`, `${appUrl}/link/callback`],
      postLogoutRedirectUris: [`${appUrl}/`],
    });
    const machine = await registry.provision({ name: 'Accord app (soak, Management API)', grantTypes: ['client_credentials'], scopes: APP_MANAGEMENT_SCOPES });
    const backend = await registry.create({ name: 'soak backend', grantTypes: ['client_credentials'], scopes: ['read:users', 'update:users'] });
    await database.close();
    const wiring: EmbeddedTenantWiring = {
      issuer,
      clientId: web.client_id,
      clientSecret: web.client_secret,
      managementClientId: machine.client_id,
      managementClientSecret: machine.client_secret,
    };

    const pairs: { primary: SeedUser; secondary: SeedUser }[][] = Array.from({ length: WORKERS }, (_, w) =>
      Array.from({ length: PAIRS_PER_WORKER }, (_, p) => ({
        primary: { connection: DB_CONNECTION, email: `soak.w${w}.primary${p}@bench.example` },
        secondary: { connection: EMAIL_CONNECTION, email: `soak.w${w}.secondary${p}@bench.example` },
      })),
    );
    const { users } = generateUsers(SEED_USERS);
    const seeded = [...users, ...pairs.flat().flatMap((p) => [p.primary, p.secondary])];
    const seedMs = await insertUsersPostgres(schema.url, seeded);
    // Verified password accounts with no email-code account: signing in with an email code as them ends on "Link these accounts?".
    const suggestable = (
      await pool.query<{ email: string }>(
        `select u.email from users u where u.connection = $1 and u.email_verified = 1
      and not exists (select 1 from identities i where i.connection = 'email' and i.connection_email = u.email_normalized)`,
        [DB_CONNECTION.name],
      )
    ).rows.map((r) => r.email);
    log(
      `PostgreSQL schema ${schema.schema}: ${fmt(seeded.length)} users seeded in ${fmt(seedMs / 1000, 1)} s (${fmt(suggestable.length)} can be suggested); Redis prefix ${redisPrefix}`,
    );

    // ---- processes: two tenants, their balancer, two apps, theirs.
    const [t1, t2, a1, a2] = ports as [number, number, number, number];
    const tenantEnv = (port: number) => ({
      NODE_ENV: 'production',
      MAIL_TRANSPORT: 'outbox',
      DEMO_IDP: 'off',
      HOST: '127.0.0.1',
      TENANT_PORT: String(port),
      TENANT_URL: issuer,
      DATABASE_URL: schema.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      MANAGEMENT_RATE_LIMIT_PER_MINUTE: '100000000',
      // Each simulated browser sends its own X-Forwarded-For through the balancer on this machine:
      // without trusting it, every sign-in counts against 127.0.0.1's code limit (10 in 15 min).
      TRUST_PROXY: 'loopback',
    });
    // --expose-gc lets a server answer what it keeps (liveMemory); nothing else uses it.
    const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--expose-gc'];
    const tenants = await Promise.all([t1, t2].map((port) => startServer('tenant-server.ts', tenantEnv(port), { nodeArgs })));
    servers.push(...tenants);
    servers.push(await startServer('round-robin-proxy.ts', { PROXY_PORT: String(tenantPort), PROXY_BACKENDS: `${t1},${t2}` }));
    // Both apps sign the session cookie with one secret, as every instance must.
    const sessionSecret = randomBytes(32).toString('hex');
    const appEnv = (port: number) => ({
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      APP_URL: appUrl,
      APP_BENCH_WIRING: JSON.stringify(wiring),
      SESSION_SECRET: sessionSecret,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: redisPrefix,
      APP_DATABASE_URL: schema.url,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
      LINK_SUGGESTIONS: 'true',
    });
    const apps = await Promise.all([a1, a2].map((port) => startServer('app-server.ts', appEnv(port), { nodeArgs })));
    servers.push(...apps);
    servers.push(await startServer('round-robin-proxy.ts', { PROXY_PORT: String(appPort), PROXY_BACKENDS: `${a1},${a2}` }));
    const measured = [
      { name: 'tenant 1', server: tenants[0]!, pid: tenants[0]!.pid },
      { name: 'tenant 2', server: tenants[1]!, pid: tenants[1]!.pid },
      { name: 'app 1', server: apps[0]!, pid: apps[0]!.pid },
      { name: 'app 2', server: apps[1]!, pid: apps[1]!.pid },
    ];

    const tokenRes = await fetch(`${issuer}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: backend.client_id,
        client_secret: backend.client_secret,
        audience: `${issuer}/api/v2/`,
      }),
    });
    expect(tokenRes.status === 200, `token: ${tokenRes.status}`);
    const api = { authorization: `Bearer ${((await tokenRes.json()) as { access_token: string }).access_token}`, 'content-type': 'application/json' };

    // ---- the load.
    const tally = new Tally();
    const outbox = new Outbox(pool);
    const roles = new Map([
      [appUrl, 'app'],
      [issuer, 'tenant'],
    ]);
    let people = 0;
    let suggestionsUsed = 0;
    const apiCall = async (kind: Kind, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(`${issuer}${path}`, {
        method,
        headers: api,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      tally.count(kind, res.status, `${method} ${path.replace(/\?.*/, '')}: ${text.slice(0, 200)}`);
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    };
    const tag = randomBytes(3).toString('hex');
    const work: Record<Kind, (worker: number, turn: number) => Promise<void>> = {
      'sign-in': async () => {
        const n = people++;
        const browser = new CountingBrowser(roles, issuer, `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, tally, 'sign-in');
        const email = `soak-${tag}-${n}@bench.example`;
        const page = await signIn(browser, appUrl, email, outbox);
        expect(page.status === 200 && page.url.pathname === '/profile' && page.text.includes(email), `ended on ${page.status} ${page.url.pathname}`);
      },
      suggestion: async () => {
        const email = suggestable[suggestionsUsed++ % suggestable.length]!;
        const n = people++;
        const browser = new CountingBrowser(roles, issuer, `11.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, tally, 'suggestion');
        const page = await signIn(browser, appUrl, email, outbox);
        // The first person with this email is asked; one who chose before goes to the profile.
        expect(
          page.status === 200 && (page.url.pathname === '/link/suggestions' || page.url.pathname === '/profile'),
          `ended on ${page.status} ${page.url.pathname}`,
        );
        if (suggestionsUsed <= suggestable.length) expect(page.text.includes('Link these accounts?'), 'no suggestion shown');
      },
      'link/unlink': async (worker, turn) => {
        const { primary, secondary } = pairs[worker]![turn % PAIRS_PER_WORKER]!;
        const [provider, id] = secondary.userId!.split('|') as [string, string];
        const path = `/api/v2/users/${encodeURIComponent(primary.userId!)}/identities`;
        const linked = await apiCall('link/unlink', 'POST', path, { provider, user_id: id });
        expect(linked.status === 201, `link: ${linked.status} ${JSON.stringify(linked.body)}`);
        const unlinked = await apiCall('link/unlink', 'DELETE', `${path}/${provider}/${id}`);
        expect(unlinked.status === 200, `unlink: ${unlinked.status} ${JSON.stringify(unlinked.body)}`);
      },
      'api reads': async () => {
        const user = users[Math.floor(Math.random() * users.length)]!;
        const found = await apiCall('api reads', 'GET', `/api/v2/users-by-email?email=${encodeURIComponent(user.email)}`);
        expect(found.status === 200 && Array.isArray(found.body) && found.body.length > 0, `users-by-email: ${found.status}`);
        const one = await apiCall('api reads', 'GET', `/api/v2/users/${encodeURIComponent(user.userId!)}`);
        expect(one.status === 200, `get user: ${one.status}`);
      },
    };

    log(`\n${WORKERS} workers for ${SECONDS} s (memory measured after ${WARMUP_SECONDS} s of warm-up and at the end), each going round: ${KINDS.join(', ')}`);
    const cpuBefore = measured.map((m) => cpuSeconds(m.pid));
    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    let warm: (number | undefined)[] = [];
    let warmLive: Promise<(number | undefined)[]> = Promise.resolve([]);
    let peak = measured.map(() => 0);
    const sampler = setInterval(() => {
      const now = measured.map((m) => rssBytes(m.pid) ?? 0);
      peak = peak.map((p, i) => Math.max(p, now[i]!));
    }, 1000);
    const warmTimer = setTimeout(() => {
      warm = measured.map((m) => rssBytes(m.pid));
      warmLive = Promise.all(measured.map((m) => liveMemory(m.server)));
    }, WARMUP_SECONDS * 1000);
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, worker) => {
        for (let turn = 0; performance.now() < deadline; turn++) {
          const kind = KINDS[(worker + turn) % KINDS.length]!;
          try {
            await work[kind](worker, Math.floor(turn / KINDS.length));
            tally.flow(kind, true);
          } catch (err) {
            tally.flow(kind, false, (err as Error).message);
            // A refused connection, not a wrong page: do not spin on it.
            if (!(err instanceof FlowError)) await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    clearTimeout(warmTimer);
    const end = measured.map((m) => rssBytes(m.pid));
    const startLive = await warmLive;
    const endLive = await Promise.all(measured.map((m) => liveMemory(m.server)));
    const cpu = measured.map((m, i) => {
      const after = cpuSeconds(m.pid);
      return after !== undefined && cpuBefore[i] !== undefined ? (after - cpuBefore[i]!) / seconds : undefined;
    });

    // ---- the report.
    log(`${fmt(tally.total)} requests in ${fmt(seconds)} s = ${fmt(tally.total / seconds)} req/s; ${tally.fiveHundreds} answered 5xx`);
    for (const kind of KINDS) {
      const r = tally.requests.get(kind);
      const f = tally.flows.get(kind) ?? { ok: 0, failed: 0 };
      const classes = r
        ? [...r.byClass]
            .sort()
            .map(([c, n]) => `${c} ${fmt(n)}`)
            .join(', ')
        : 'none';
      log(`  ${kind.padEnd(12)} ${fmt(f.ok)} done, ${f.failed} failed; ${fmt(r?.total ?? 0)} requests (${classes})`);
    }
    if (tally.firstFailure) log(`  first failure: ${tally.firstFailure.slice(0, 400)}`);
    for (const e of tally.serverErrors) log(`  5xx: ${e.slice(0, 300)}`);
    const change = (from: number | undefined, to: number | undefined) => (from !== undefined && to !== undefined ? (to - from) / from : undefined);
    const pct = (c: number | undefined) => (c === undefined ? 'n/a' : `${c >= 0 ? '+' : ''}${fmt(c * 100, 1)}%`);
    let memoryOk = true;
    const liveFigures: string[] = [];
    const rssFigures: string[] = [];
    measured.forEach((m, i) => {
      const live = change(startLive[i], endLive[i]);
      const ok = live !== undefined && Math.abs(live) <= MEMORY_TOLERANCE;
      memoryOk &&= ok;
      const liveFigure = `${mb(startLive[i])} → ${mb(endLive[i])} (${pct(live)})`;
      const rssFigure = `${mb(warm[i])} → ${mb(end[i])} (${pct(change(warm[i], end[i]))}, peak ${mb(peak[i])})`;
      liveFigures.push(`${m.name} ${liveFigure}`);
      rssFigures.push(`${m.name} ${rssFigure}`);
      log(
        `  ${m.name.padEnd(9)} after warm-up → end: live memory ${liveFigure}, RSS ${rssFigure}, CPU ${cpu[i] === undefined ? 'n/a' : `${fmt(cpu[i]! * 100)}% of a core`}  ${ok ? 'PASS' : 'FAIL'}`,
      );
    });
    const invariant = await invariantViolations(pool);
    const intact = invariant.orphans === 0 && invariant.withoutOneMain === 0 && invariant.wrongMain === 0;
    log(
      `  invariant: ${fmt(invariant.users)} users, ${fmt(invariant.identities)} identities; ${invariant.orphans} identities without their user, ${invariant.withoutOneMain} users without exactly one main identity, ${invariant.wrongMain} main identities of another user  ${intact ? 'PASS' : 'FAIL'}`,
    );

    const failed = [...tally.flows.values()].reduce((n, f) => n + f.failed, 0);
    const byKind = KINDS.map((k) => `${k} ${fmt(tally.flows.get(k)?.ok ?? 0)}`).join(', ');
    results.push(
      {
        name: `soak: ${SECONDS} s, 2 tenants + 2 apps on PostgreSQL and Redis, ${WORKERS} workers`,
        value: `${fmt(tally.total / seconds)} req/s, ${fmt(tally.total)} requests (${byKind}; ${failed} failed), ${tally.fiveHundreds} 5xx`,
        target: 'zero 5xx (and no failed flow)',
        pass: tally.fiveHundreds === 0 && failed === 0,
      },
      {
        name: 'soak: live memory of each process (heap in use and Buffers, after a full collection), after warm-up → end',
        value: liveFigures.join('; '),
        target: 'within 20%',
        pass: memoryOk,
      },
      { name: 'soak: RSS of each process, after warm-up → end', value: rssFigures.join('; ') },
      {
        name: 'soak: directory invariant at the end (SQL)',
        value: `${fmt(invariant.users)} users, ${fmt(invariant.identities)} identities, ${invariant.orphans + invariant.withoutOneMain + invariant.wrongMain} violations`,
        target: 'holds',
        pass: intact,
      },
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await pool.end();
    await schema.drop();
    const redis = createClient({ url: redisUrl });
    redis.on('error', () => {});
    try {
      await redis.connect();
      for await (const keys of redis.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 1000 })) if (keys.length > 0) await redis.del(keys);
      await redis.close();
    } catch {
      redis.destroy();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  return results;
}
