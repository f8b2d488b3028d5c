/**
 * Full sign-in round trips against a tenant in a child process (bench/login-server.ts) on
 * 127.0.0.1: authorize → login pages → (upstream IdP / mailed code) → callback → token →
 * userinfo, through (a) the demo social IdP (`demo-social`, a real second OpenID Provider
 * hosted by the tenant) and (b) the passwordless email-code connection (`email`), with
 * CLIENTS concurrent simulated browsers for PHASE_MS each; then the token endpoint alone
 * (client_credentials, autocannon, CLIENTS connections) for the ratio. Each phase is measured
 * beside its floor, the same round trip against oidc-provider alone with the tenant's database
 * storage and a sign-in page that signs in at once (bench/oidc-provider-floor-server.ts), the
 * most a sign-in built on that package can reach on this machine: both servers run all along
 * and the load goes to one at a time, in ROUNDS rounds of a SLICE_MS slice a side, the order
 * reversed each round (bench/slices.ts), so the machine's drift falls on both alike. Last, with
 * the tenant stopped, the floor with oidc-provider's in-memory storage, alone for PHASE_MS.
 *
 * The load generator is this process: global fetch with manual redirects and one small cookie
 * jar per sign-in (a new browser each time, so no SSO session shortcuts a login). Every
 * request goes to the tenant's own origin on 127.0.0.1 (anything else throws), every request
 * has a timeout, every loop stops at a deadline and a count.
 *
 * Rate limits: the passwordless limits (PASSWORDLESS_LIMITS: 10 code sends and 30 guesses per
 * address, 5 sends per email, per 15 min) are constants, not configuration. So each simulated
 * browser sends its own X-Forwarded-For address (the tenant trusts it from loopback), a new
 * one every ADDRESS_REUSE sign-ins, and each email is used for EMAIL_REUSE sign-ins (the first
 * creates the user, the others are returning users): the limiters run on every request but
 * never refuse one. The database-connection limits (config.loginRateLimits) are raised in
 * the server, though neither connection measured here reads them.
 *
 * The mailed code is read by this process straight from the SQLite outbox (mail_outbox), the
 * file the child writes, read-only, following the autoincrement id.
 *
 * `npx tsx bench/logins.ts` prints the results; benchLogins() returns them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { alternate, formatRoundRatios, roundRatios, type SliceRate, summedRate } from './slices.ts';
import { CookieJar, cpuSeconds, printTargets, recordTarget, type ServerProcess, startServer } from './support.ts';

/** LOGIN_BENCH_CLIENTS and LOGIN_BENCH_PHASES (comma-separated: demo-social,passwordless,token,floor) are for profiling only. */
const CLIENTS = Math.min(64, Math.max(1, Number(process.env.LOGIN_BENCH_CLIENTS ?? 16) || 16));
const PHASES = new Set((process.env.LOGIN_BENCH_PHASES ?? 'demo-social,passwordless,token,floor').split(','));
const PHASE_MS = 10_000;
/** A phase's PHASE_MS in slices alternating with its floor's: each side gets PHASE_MS in all. */
const SLICE_MS = 2_000;
const ROUNDS = PHASE_MS / SLICE_MS;
const WARMUP_MS = 1_500;
const TOKEN_SECONDS = 8;
/**
 * Issue 14's targets, against the floor with the tenant's database storage measured in the
 * same run: passwordless ≥ 0.60 of it; demo-social, which runs two OpenID Providers per
 * sign-in (the tenant's and the demo IdP's), ≥ 0.70 of half of it.
 */
const TARGETS: Record<string, { ratio: number; providers: number }> = {
  passwordless: { ratio: 0.6, providers: 1 },
  'demo-social': { ratio: 0.7, providers: 2 },
};
/** Hard bounds besides the deadline. */
const MAX_LOGINS_PER_CLIENT = 10_000;
const MAX_FAILURES = 200;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HOPS = 12;
/** Sign-ins per X-Forwarded-For address: each is one code send and one guess (limits 10 and 30). */
const ADDRESS_REUSE = 5;
/** Sign-ins per email (limit: 5 code sends per email). */
const EMAIL_REUSE = 4;

export interface BenchResult {
  name: string;
  value: string;
  target?: string;
  pass?: boolean;
}

/** Where a sign-in goes: an OpenID Provider and the relying party registered there. */
interface ProviderInfo {
  url: string;
  rp: { clientId: string; clientSecret: string; redirectUri: string };
}

interface ServerInfo extends ProviderInfo {
  sqliteFile: string;
  m2m: { clientId: string; clientSecret: string; audience: string };
}

// ---------------------------------------------------------------- the tenant process

interface LoginServer<T> {
  server: ServerProcess;
  info: T;
  stop(): Promise<void>;
}

/** The tenant (bench/login-server.ts) or the floor (bench/oidc-provider-floor-server.ts), with the JSON of its READY line. */
async function startLoginServer<T extends ProviderInfo>(script: string, what: string, extraEnv: Record<string, string> = {}): Promise<LoginServer<T>> {
  // NODE_ENV=production as deployed: Express caches compiled views only then (in development
  // every sign-in page re-reads and re-compiles its EJS templates). The tenant's own settings
  // are explicit in login-server.ts and do not read NODE_ENV.
  const server = await startServer(
    script,
    { NODE_ENV: 'production', LOG_LEVEL: 'silent', LOGIN_BENCH_PARENT_PIPE: '1', ...extraEnv },
    // LOGIN_BENCH_NODE_ARGS: extra node flags for the tenant process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
    { name: what, nodeArgs: (process.env.LOGIN_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), timeoutMs: 30_000 },
  );
  const info = JSON.parse(server.ready) as T;
  const stop = async () => {
    await server.stop();
    // The tenant removes its temp dir on a clean exit; make sure of it otherwise.
    if ('sqliteFile' in info && typeof info.sqliteFile === 'string') rmSync(dirname(info.sqliteFile), { recursive: true, force: true });
  };
  if (new URL(info.url).hostname !== '127.0.0.1') {
    await stop();
    throw new Error(`unexpected ${what} url ${info.url}`);
  }
  return { server, info, stop };
}

// ---------------------------------------------------------------- a browser

/** Statistics per request kind (a path with its ids replaced), to see where a sign-in's time goes. */
class StepTimes {
  readonly #steps = new Map<string, { count: number; ms: number }>();
  add(label: string, ms: number) {
    const s = this.#steps.get(label) ?? { count: 0, ms: 0 };
    s.count++;
    s.ms += ms;
    this.#steps.set(label, s);
  }
  summary(): Array<{ label: string; count: number; meanMs: number }> {
    return [...this.#steps].map(([label, s]) => ({ label, count: s.count, meanMs: s.ms / s.count }));
  }
}

const labelOf = (method: string, path: string) => `${method} ${path.replace(/\/[A-Za-z0-9_-]{16,}(?=\/|$)/g, '/:id')}`;

interface Page {
  status: number;
  location: string | undefined;
  text: string;
}

/**
 * One browser: cookies by name and path (as oidc-provider scopes them to `/login/<uid>`,
 * `/authorize/<uid>`…), requests only to the tenant's origin, redirects not followed.
 */
class Browser {
  readonly #jar = new CookieJar();
  constructor(
    private readonly origin: string,
    private readonly ip: string,
    private readonly steps: StepTimes,
  ) {}

  async request(
    method: 'GET' | 'POST',
    target: string,
    options: { form?: Record<string, string>; headers?: Record<string, string>; jar?: boolean } = {},
  ): Promise<Page> {
    const url = new URL(target, this.origin);
    if (url.origin !== this.origin) throw new Error(`refusing to leave ${this.origin}: ${url.href}`);
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, ...options.headers };
    if (options.jar !== false) {
      const cookie = this.#jar.header(url.pathname);
      if (cookie) headers.cookie = cookie;
    }
    let body: string | undefined;
    if (options.form) {
      body = new URLSearchParams(options.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const started = performance.now();
    const res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await res.text();
    this.steps.add(labelOf(method, url.pathname), performance.now() - started);
    if (options.jar !== false) for (const line of res.headers.getSetCookie()) this.#jar.store(line, url.pathname);
    return { status: res.status, location: res.headers.get('location') ?? undefined, text };
  }
}

// ---------------------------------------------------------------- the sign-in flows

class FlowError extends Error {}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new FlowError(message);
}

function csrfOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  expect(token, 'the page has no CSRF field');
  return token;
}

interface Authorization {
  uid: string;
  /** Where /authorize sent the browser: the tenant sends it to the connection's page at once. */
  location: string;
  state: string;
  nonce: string;
  verifier: string;
}

async function authorize(browser: Browser, info: ProviderInfo, connection: string): Promise<Authorization> {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const query = new URLSearchParams({
    client_id: info.rp.clientId,
    response_type: 'code',
    redirect_uri: info.rp.redirectUri,
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    connection,
  });
  const res = await browser.request('GET', `/authorize?${query}`);
  expect(res.status === 303 && res.location, `authorize: ${res.status} ${res.text.slice(0, 200)}`);
  const uid = /^\/login\/([^/?]+)(?:\/[^/?]+)?$/.exec(new URL(res.location, info.url).pathname)?.[1];
  expect(uid, `authorize redirected to ${res.location}`);
  return { uid, location: res.location, state, nonce, verifier };
}

/** GETs redirects on the tenant until one points at the RP's redirect_uri; returns its query. */
async function followToCallback(browser: Browser, info: ProviderInfo, location: string): Promise<URLSearchParams> {
  let next = location;
  for (let hops = 0; hops < MAX_HOPS; hops++) {
    if (next.startsWith(info.rp.redirectUri)) return new URL(next).searchParams;
    const res = await browser.request('GET', next);
    expect(
      (res.status === 302 || res.status === 303) && res.location,
      `expected a redirect from ${next.slice(0, 80)}, got ${res.status} ${res.text.slice(0, 200)}`,
    );
    next = res.location;
  }
  throw new FlowError('too many redirects');
}

/** The RP's back end: code → tokens (client_secret_basic), then /userinfo with the access token. */
async function redeem(browser: Browser, info: ProviderInfo, auth: Authorization, callback: URLSearchParams): Promise<void> {
  expect(!callback.get('error'), `callback error: ${callback.get('error')} ${callback.get('error_description')}`);
  expect(callback.get('state') === auth.state, 'state mismatch');
  const basic = Buffer.from(`${encodeURIComponent(info.rp.clientId)}:${encodeURIComponent(info.rp.clientSecret)}`).toString('base64');
  const token = await browser.request('POST', '/oauth/token', {
    jar: false,
    headers: { authorization: `Basic ${basic}` },
    form: { grant_type: 'authorization_code', code: callback.get('code') ?? '', redirect_uri: info.rp.redirectUri, code_verifier: auth.verifier },
  });
  expect(token.status === 200, `token: ${token.status} ${token.text.slice(0, 200)}`);
  const tokens = JSON.parse(token.text) as { access_token: string; id_token: string };
  const claims = decodeJwt(tokens.id_token);
  expect(claims.nonce === auth.nonce, 'nonce mismatch');
  const userinfo = await browser.request('GET', '/userinfo', { jar: false, headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(userinfo.status === 200, `userinfo: ${userinfo.status} ${userinfo.text.slice(0, 200)}`);
  expect((JSON.parse(userinfo.text) as { sub?: string }).sub === claims.sub, 'userinfo sub differs from the id_token sub');
}

async function demoSocialLogin(browser: Browser, info: ServerInfo, email: string): Promise<void> {
  const auth = await authorize(browser, info, 'demo-social');
  expect(auth.location === `/login/${auth.uid}/demo-social`, `authorize: to ${auth.location}, not the connection`);
  const start = await browser.request('GET', auth.location);
  expect(start.status === 303 && start.location, `connection start: ${start.status} ${start.text.slice(0, 200)}`);
  const atIdp = await browser.request('GET', start.location);
  expect(atIdp.status === 303 && atIdp.location, `demo IdP authorize: ${atIdp.status} ${atIdp.text.slice(0, 200)}`);
  const form = await browser.request('GET', atIdp.location);
  expect(form.status === 200, `demo IdP form: ${form.status}`);
  const submitted = await browser.request('POST', atIdp.location, {
    form: { _csrf: csrfOf(form.text), action: 'login', email, name: 'Bench User', email_verified: 'on' },
  });
  expect(submitted.status === 303 && submitted.location, `demo IdP submit: ${submitted.status} ${submitted.text.slice(0, 200)}`);
  await redeem(browser, info, auth, await followToCallback(browser, info, submitted.location));
}

/** The floor's sign-in: its login page signs a new account in at once. */
async function floorLogin(browser: Browser, info: ProviderInfo): Promise<void> {
  const auth = await authorize(browser, info, 'floor');
  await redeem(browser, info, auth, await followToCallback(browser, info, auth.location));
}

/** Codes mailed by the tenant, read from its outbox table as they arrive (by autoincrement id). */
class Outbox {
  readonly #db: SQLite.Database;
  readonly #newer: SQLite.Statement<[number], { id: number; to: string; text: string }>;
  readonly #codes = new Map<string, string>();
  #lastId = 0;
  constructor(sqliteFile: string) {
    this.#db = new SQLite(sqliteFile, { readonly: true, fileMustExist: true });
    this.#newer = this.#db.prepare('select id, "to", text from mail_outbox where id > ? order by id limit 1000');
  }
  /** The newest code mailed to `email` that no one took yet. */
  async takeCode(email: string): Promise<string> {
    for (let attempt = 0; attempt < 20; attempt++) {
      for (const row of this.#newer.all(this.#lastId)) {
        this.#lastId = row.id;
        const code = /^\s+(\d{6})\s*$/m.exec(row.text)?.[1];
        if (code) this.#codes.set(row.to, code);
      }
      const code = this.#codes.get(email);
      if (code) {
        this.#codes.delete(email);
        return code;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new FlowError(`no code was mailed to ${email}`);
  }
  close() {
    this.#db.close();
  }
}

async function passwordlessLogin(browser: Browser, info: ServerInfo, email: string, outbox: Outbox): Promise<void> {
  const auth = await authorize(browser, info, 'email');
  expect(auth.location === `/login/${auth.uid}/email`, `authorize: to ${auth.location}, not the connection`);
  const emailForm = await browser.request('GET', auth.location);
  expect(emailForm.status === 200, `email form: ${emailForm.status} ${emailForm.text.slice(0, 200)}`);
  const sent = await browser.request('POST', auth.location, { form: { _csrf: csrfOf(emailForm.text), email } });
  expect(sent.status === 303 && sent.location, `code request: ${sent.status} ${sent.text.slice(0, 300)}`);
  const codePage = await browser.request('GET', sent.location);
  expect(codePage.status === 200, `code page: ${codePage.status}`);
  const code = await outbox.takeCode(email);
  const entered = await browser.request('POST', `/login/${auth.uid}/email/code`, { form: { _csrf: csrfOf(codePage.text), email, code } });
  expect(entered.status === 303 && entered.location, `code entry: ${entered.status} ${entered.text.slice(0, 300)}`);
  await redeem(browser, info, auth, await followToCallback(browser, info, entered.location));
}

// ---------------------------------------------------------------- running a phase

type Flow = (browser: Browser, email: string) => Promise<void>;

/**
 * The simulated browsers of one phase (or floor): their running numbers go on over its
 * warm-up and all its slices, so no address or email is reused beyond ADDRESS_REUSE and
 * EMAIL_REUSE sign-ins in the whole run.
 */
interface Lane {
  index: number;
  sequence: number[];
  tag: string;
}

const laneOf = (index: number): Lane => ({ index, sequence: Array.from({ length: CLIENTS }, () => 0), tag: randomBytes(3).toString('hex') });

/** A phase's figures, summed over its slices. */
interface PhaseResult {
  logins: number;
  failures: number;
  firstFailure: string | undefined;
  seconds: number;
  latencies: number[];
  /** The server's CPU seconds over the slices; undefined without /proc. */
  serverCpuSeconds: number | undefined;
  generatorCpuSeconds: number;
  steps: StepTimes;
  /** Sign-ins each browser has started, for MAX_LOGINS_PER_CLIENT. */
  started: number[];
  slices: SliceRate[];
}

const emptyResult = (): PhaseResult => ({
  logins: 0,
  failures: 0,
  firstFailure: undefined,
  seconds: 0,
  latencies: [],
  serverCpuSeconds: 0,
  generatorCpuSeconds: 0,
  steps: new StepTimes(),
  started: Array.from({ length: CLIENTS }, () => 0),
  slices: [],
});

/**
 * One slice, added to `into`: CLIENTS simulated users signing in one after another, each time
 * as a new browser, until the deadline (or MAX_LOGINS_PER_CLIENT, or MAX_FAILURES in all, over
 * all of `into`'s slices); the sign-ins under way at the deadline are finished and counted.
 */
async function runSlice(info: ProviderInfo, serverPid: number | undefined, lane: Lane, flow: Flow, durationMs: number, into: PhaseResult): Promise<void> {
  const logins = into.logins;
  const cpu0 = cpuSeconds(serverPid);
  const own0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (into.started[client]! < MAX_LOGINS_PER_CLIENT && performance.now() < deadline && into.failures < MAX_FAILURES) {
        into.started[client]!++;
        const i = lane.sequence[client]!++;
        const block = Math.floor(i / ADDRESS_REUSE);
        const ip = `10.${lane.index * CLIENTS + client}.${(block >> 8) & 255}.${block & 255}`;
        const email = `bench-${lane.tag}-p${lane.index}-c${client}-u${Math.floor(i / EMAIL_REUSE)}@bench.example`;
        const t0 = performance.now();
        try {
          await flow(new Browser(info.url, ip, into.steps), email);
          into.latencies.push(performance.now() - t0);
          into.logins++;
        } catch (err) {
          into.failures++;
          into.firstFailure ??= (err as Error).message;
          if (!(err instanceof FlowError)) await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = cpuSeconds(serverPid);
  const own = process.cpuUsage(own0);
  into.seconds += seconds;
  into.slices.push({ count: into.logins - logins, seconds });
  into.serverCpuSeconds = into.serverCpuSeconds !== undefined && cpu0 !== undefined && cpu1 !== undefined ? into.serverCpuSeconds + cpu1 - cpu0 : undefined;
  into.generatorCpuSeconds += (own.user + own.system) / 1e6;
}

/** A warm-up (discovery, JIT, statement caches), not counted. */
async function warmUp(info: ProviderInfo, serverPid: number | undefined, lane: Lane, flow: Flow): Promise<void> {
  await runSlice(info, serverPid, lane, flow, WARMUP_MS, emptyResult());
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function tokenEndpoint(
  info: ServerInfo,
  tenantPid: number | undefined,
): Promise<{ rps: number; non2xx: number; errors: number; p50: number; p99: number; serverCpu: number | undefined }> {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: info.m2m.clientId,
    client_secret: info.m2m.clientSecret,
    audience: info.m2m.audience,
  }).toString();
  const cpu0 = cpuSeconds(tenantPid);
  const started = performance.now();
  const result = await autocannon({
    url: `${info.url}/oauth/token`,
    method: 'POST',
    connections: CLIENTS,
    duration: TOKEN_SECONDS,
    timeout: REQUEST_TIMEOUT_MS / 1000,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const cpu1 = cpuSeconds(tenantPid);
  const seconds = (performance.now() - started) / 1000;
  return {
    rps: result['2xx'] / result.duration,
    non2xx: result.non2xx,
    errors: result.errors,
    p50: result.latency.p50,
    p99: result.latency.p99,
    serverCpu: cpu0 !== undefined && cpu1 !== undefined ? (cpu1 - cpu0) / seconds : undefined,
  };
}

// ---------------------------------------------------------------- the benchmark

export interface LoginBenchDetails {
  phases: Array<{ name: string; result: PhaseResult }>;
  token: Awaited<ReturnType<typeof tokenEndpoint>>;
}

let lastDetails: LoginBenchDetails | undefined;

export async function benchLogins(): Promise<BenchResult[]> {
  const phases: LoginBenchDetails['phases'] = [];
  /** The database floor's slices beside each phase, by the phase's name. */
  const besides = new Map<string, PhaseResult>();
  let token: LoginBenchDetails['token'] = { rps: 0, non2xx: 0, errors: 0, p50: 0, p99: 0, serverCpu: undefined };
  const tenant = await startLoginServer<ServerInfo>('login-server.ts', 'the tenant');
  const { info } = tenant;
  const outbox = new Outbox(info.sqliteFile);
  let floor: LoginServer<ProviderInfo> | undefined;
  try {
    // The floor runs beside the tenant all along; an idle server costs the other nothing.
    if (PHASES.has('floor'))
      floor = await startLoginServer<ProviderInfo>('oidc-provider-floor-server.ts', 'the oidc-provider floor', { FLOOR_STORAGE: 'database' });
    const floorLane = laneOf(3);
    const floorFlow: Flow = (browser) => floorLogin(browser, floor!.info);
    if (floor) await warmUp(floor.info, floor.server.pid, floorLane, floorFlow);
    const flows: Array<{ name: string; flow: Flow }> = [
      { name: 'demo-social', flow: (browser, email) => demoSocialLogin(browser, info, email) },
      { name: 'passwordless', flow: (browser, email) => passwordlessLogin(browser, info, email, outbox) },
    ];
    for (const [index, { name, flow }] of flows.entries()) {
      if (!PHASES.has(name)) continue;
      const lane = laneOf(index);
      await warmUp(info, tenant.server.pid, lane, flow);
      const result = emptyResult();
      const beside = emptyResult();
      await alternate(ROUNDS, async (side) => {
        if (side === 'accord') await runSlice(info, tenant.server.pid, lane, flow, SLICE_MS, result);
        else if (floor) await runSlice(floor.info, floor.server.pid, floorLane, floorFlow, SLICE_MS, beside);
      });
      phases.push({ name, result });
      if (floor) besides.set(name, beside);
    }
    if (PHASES.has('token')) token = await tokenEndpoint(info, tenant.server.pid);
  } finally {
    outbox.close();
    await tenant.stop();
    await floor?.stop();
  }
  // oidc-provider with its own in-memory storage, alone on the machine: the package by itself.
  let memoryFloor: PhaseResult | undefined;
  if (PHASES.has('floor')) {
    const server = await startLoginServer<ProviderInfo>('oidc-provider-floor-server.ts', 'the oidc-provider floor', { FLOOR_STORAGE: 'memory' });
    try {
      const lane = laneOf(2);
      const flow: Flow = (browser) => floorLogin(browser, server.info);
      await warmUp(server.info, server.server.pid, lane, flow);
      memoryFloor = emptyResult();
      await runSlice(server.info, server.server.pid, lane, flow, PHASE_MS, memoryFloor);
    } finally {
      await server.stop();
    }
  }
  const floors = [
    ...[...besides].map(([name, result]) => ({ name: `${floorName('database')}, beside ${name}`, result })),
    ...(memoryFloor ? [{ name: floorName('memory'), result: memoryFloor }] : []),
  ];
  lastDetails = { phases: [...phases, ...floors], token };

  const results: BenchResult[] = [];
  const rateOf = (result: PhaseResult) => summedRate(result.slices);
  for (const { name, result } of phases) {
    const rate = rateOf(result);
    const sorted = [...result.latencies].sort((a, b) => a - b);
    const goal = TARGETS[name]!;
    const databaseFloor = besides.get(name);
    const floorRate = databaseFloor ? rateOf(databaseFloor) / goal.providers : undefined;
    const ratio = floorRate === undefined ? undefined : rate / floorRate;
    const rounds = databaseFloor ? formatRoundRatios(roundRatios(result.slices, databaseFloor.slices, goal.providers)) : 'n/a';
    const cpu = cpuMsPerLogin(result);
    const floorCpu = databaseFloor ? cpuMsPerLogin(databaseFloor) : undefined;
    const cpuRatio = cpu !== undefined && floorCpu !== undefined ? (floorCpu * goal.providers) / cpu : undefined;
    const pass = ratio !== undefined && ratio >= goal.ratio && result.failures === 0;
    const target = `≥ ${goal.ratio.toFixed(2)} of the floor${goal.providers > 1 ? ` ÷ ${goal.providers}` : ''}`;
    recordTarget({
      name: `${name} sign-ins/s (${CLIENTS} clients)`,
      measured: `${rate.toFixed(1)}/s, ${cpuPerLogin(result)} ms tenant CPU each`,
      floor: databaseFloor
        ? `oidc-provider alone, database storage, in ${ROUNDS} slices alternating with these: ${rateOf(databaseFloor).toFixed(1)}/s, ${cpuPerLogin(databaseFloor)} ms${goal.providers > 1 ? ` (÷ ${goal.providers} providers: ${floorRate!.toFixed(1)}/s)` : ''}; ratio by round ${rounds}`
        : 'not measured (LOGIN_BENCH_PHASES without floor)',
      ratio,
      cpuRatio,
      target,
      pass,
    });
    results.push(
      {
        name: `${name}: logins/s (${CLIENTS} clients, ${result.seconds.toFixed(1)} s in ${result.slices.length} slices, ${result.logins} logins, ${result.failures} failed)`,
        value: rate.toFixed(1),
        target,
        pass,
      },
      { name: `${name}: one login, median ms`, value: percentile(sorted, 50).toFixed(1) },
      { name: `${name}: one login, p99 ms`, value: percentile(sorted, 99).toFixed(1) },
      { name: `${name}: tenant CPU per login, ms`, value: cpuPerLogin(result) },
      { name: `${name}: logins/s ÷ token-endpoint req/s`, value: token.rps > 0 ? (rate / token.rps).toFixed(3) : 'n/a' },
    );
    if (databaseFloor) {
      results.push(
        { name: `${name}: logins/s ÷ ${floorName('database')}, beside it`, value: (rate / rateOf(databaseFloor)).toFixed(3) },
        {
          name: `${name}: the same${goal.providers > 1 ? ` (÷ ${goal.providers})` : ''} by round (${ROUNDS} rounds of ${SLICE_MS / 1000} s a side, order reversed each round): least–greatest (each)`,
          value: rounds,
        },
      );
    }
    if (memoryFloor) results.push({ name: `${name}: logins/s ÷ ${floorName('memory')}, after`, value: (rate / rateOf(memoryFloor)).toFixed(3) });
  }
  if (PHASES.has('token'))
    results.push({ name: `token endpoint alone (client_credentials, ${CLIENTS} connections, ${TOKEN_SECONDS} s): req/s`, value: token.rps.toFixed(1) });
  // The floors themselves: the most a sign-in built on oidc-provider reaches here.
  for (const { name, result } of floors) {
    results.push(
      {
        name: `${name}: logins/s (${CLIENTS} clients, ${result.seconds.toFixed(1)} s in ${result.slices.length} slice${result.slices.length > 1 ? 's' : ''}, ${result.logins} logins, ${result.failures} failed)`,
        value: rateOf(result).toFixed(1),
      },
      { name: `${name}: CPU per login, ms`, value: cpuPerLogin(result) },
    );
  }
  return results;
}

/** bench/oidc-provider-floor-server.ts: oidc-provider alone, with a sign-in page that signs in at once. */
const floorName = (storage: string) => `floor: oidc-provider alone, ${storage === 'memory' ? 'its in-memory storage' : "the tenant's database storage"}`;

/** Server CPU milliseconds per completed login. */
function cpuMsPerLogin(result: PhaseResult): number | undefined {
  return result.serverCpuSeconds === undefined || result.logins === 0 ? undefined : (result.serverCpuSeconds * 1000) / result.logins;
}

function cpuPerLogin(result: PhaseResult): string {
  return cpuMsPerLogin(result)?.toFixed(2) ?? 'n/a';
}

function printDetails(details: LoginBenchDetails) {
  const pct = (v: number | undefined) => (v === undefined ? 'n/a' : `${(v * 100).toFixed(0)}%`);
  for (const { name, result } of details.phases) {
    console.log(
      `\n${name}: server process CPU ${pct(result.serverCpuSeconds === undefined ? undefined : result.serverCpuSeconds / result.seconds)} of one core, load generator ${pct(result.generatorCpuSeconds / result.seconds)}${result.firstFailure ? `; first failure: ${result.firstFailure}` : ''}`,
    );
    const steps = result.steps.summary();
    const perLogin = result.logins + result.failures > 0 ? steps.reduce((n, s) => n + s.count, 0) / (result.logins + result.failures) : 0;
    console.log(`  ${perLogin.toFixed(1)} HTTP requests per login; mean latency per request kind (under load):`);
    for (const s of steps) console.log(`    ${s.meanMs.toFixed(2).padStart(8)} ms  ×${String(s.count).padEnd(6)} ${s.label}`);
  }
  const t = details.token;
  console.log(`\ntoken endpoint: p50 ${t.p50} ms, p99 ${t.p99} ms, non-2xx ${t.non2xx}, errors ${t.errors}, tenant CPU ${pct(t.serverCpu)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await benchLogins();
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    const verdict = r.pass === undefined ? '' : `  target ${r.target}: ${r.pass ? 'PASS' : 'FAIL'}`;
    console.log(`${r.name.padEnd(width)}  ${r.value.padStart(9)}${verdict}`);
  }
  if (lastDetails) printDetails(lastDetails);
  console.log('');
  printTargets(console.log);
}
