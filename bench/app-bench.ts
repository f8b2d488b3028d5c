/**
 * The app's performance targets (issue 4, "Performance (bench)"), measured in one run:
 *
 *   1. Suggested-linking overhead on sign-in: one tenant (bench/app-tenant-server.ts) and two
 *      identical apps against it (bench/app-server.ts), A with LINK_SUGGESTIONS=true and B
 *      with LINK_SUGGESTIONS=false. CLIENTS simulated browsers sign in over and over, each
 *      time a new person and a new browser, alternating A, B, A, B… (half the clients start
 *      on A, half on B, so at any moment both apps are under the same load): app /login →
 *      tenant → demo IdP form → tenant → app /callback → / → /profile (200). Every person has
 *      a verified email and no other account, so A's middleware does its whole lookup and
 *      finds nothing, the common case. Each browser's sign-ins go by pairs, one on each app,
 *      one after the other, so a pair's two sign-ins see the same load (other processes on
 *      this shared machine swing a sign-in's latency by hundreds of ms within seconds);
 *      the phase measures LOGIN_PAIRS pairs (at most LOGIN_MS) after a warm-up. Target: the
 *      median of the pairs' A − B < 2 ms, the upper end of its 95% bootstrap interval
 *      < 4 ms; the difference of medians over all sign-ins is printed beside it. The whole
 *      sign-in carries the noise of ~14 hops; the app's requests from /callback to the first
 *      page, the only ones whose code differs, are reported too, under load and then with
 *      one sign-in at a time (nothing queueing).
 *   2. Profile page throughput: autocannon GET /profile on app A with one signed-in session
 *      cookie (from one real sign-in) against a bare Express app serving the same HTML bytes
 *      (bench/app-bare-page.ts), same connections and duration. Target: ≥ 50% of its req/s.
 *      Beside it, the floor (bench/app-floor-page.ts): the same bytes behind only the packages
 *      the app is built on, with the app's settings (Helmet, express-session and its SQLite
 *      store, passport's session), signed in with a session of the app's own user: the most
 *      the app could reach on this machine. /profile and the floor are measured in alternating
 *      slices of PAGE_SLICE_SECONDS (bench/slices.ts), so the machine's drift falls on both alike.
 *      Also measured, to show where a profile request's time goes: the app's /healthz (no
 *      session) and signed-in GET / (session, passport; no tenant calls), the tenant alone
 *      answering the three Management API calls /profile makes, and bench/bare-server.ts's
 *      JSON endpoint; CPU per request of every process involved, from /proc.
 *      (/profile does the same work with LINK_SUGGESTIONS=false: it always looks up
 *      candidates, so app B is not measured here.)
 *
 * Every server is a child process on 127.0.0.1 (node --import tsx), with NODE_ENV=production
 * as deployed (Express caches compiled views only then). The load generator is this process:
 * global fetch, manual redirects, a cookie jar per origin. Every request has a timeout,
 * every loop a deadline and a count; children are killed at the end, on failure too.
 *
 * `npx tsx bench/app-bench.ts` prints the details and a summary table; benchApp() returns
 * the rows for bench/run.ts. BENCH_QUICK=1 shortens the phases (not for reported figures).
 * APP_BENCH_NODE_ARGS adds node flags to both app processes and the floor page, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/app-prof" to see where an app's CPU goes beside the floor's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import type { EmbeddedTenantWiring } from '../src/app/app-config.ts';
import type { BenchResult } from './logins.ts';
import { alternate, formatRoundRatios, roundRatios, type SliceRate, summedRate } from './slices.ts';
import { CookieJar, cpuSeconds, freePort, holdPort, printTargets, recordTarget, type ServerProcess, serverPids, startServer, stopServers } from './support.ts';

const QUICK = process.env.BENCH_QUICK === '1';

/**
 * Sign-in phase: a few browsers, enough that both apps are busy at once, few enough not to
 * measure queues. APP_BENCH_CLIENTS overrides it, for exploring only.
 */
const CLIENTS = Math.min(16, Math.max(2, Number(process.env.APP_BENCH_CLIENTS ?? 4) || 4));
const LOGIN_WARMUP_MS = QUICK ? 1_000 : 2_000;
/**
 * Pairs of sign-ins (one on each app) the phase measures, within LOGIN_MS: enough for a 95%
 * interval about ±2 ms wide around the median difference, as the targets need to be judged.
 */
const LOGIN_PAIRS = QUICK ? 200 : 2_000;
const LOGIN_MS = QUICK ? 10_000 : 180_000;
const MAX_LOGINS = 5_000;
const MAX_FAILURES = 50;
/** Issue 14: the median difference under 2 ms, and the upper end of its 95% interval under 4 ms. */
const TARGET_OVERHEAD_MS = 2;
const TARGET_OVERHEAD_UPPER_MS = 4;
const SEQUENTIAL_MS = QUICK ? 2_000 : 4_000;

/** Throughput phase: the same connections and duration for the app's page and the bare page. */
const CONNECTIONS = 16;
const PAGE_SECONDS = QUICK ? 4 : 8;
/** /profile and its floor take PAGE_SECONDS each, in PAGE_ROUNDS rounds of a slice a side. */
const PAGE_SLICE_SECONDS = 2;
const PAGE_ROUNDS = PAGE_SECONDS / PAGE_SLICE_SECONDS;
const SIDE_SECONDS = QUICK ? 2 : 3;
const WARMUP_SECONDS = 1;
const TARGET_RATIO = 0.5;
/** Issue 14: /profile ≥ 0.80 of the floor (the same HTML behind Helmet, express-session and passport alone). */
const TARGET_FLOOR_RATIO = 0.8;

const REQUEST_TIMEOUT_MS = 10_000;
const MAX_HOPS = 16;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const log = (message: string) => process.stdout.write(`${message}\n`);

// ---------------------------------------------------------------- processes

/**
 * Starts a server of this benchmark: as deployed (NODE_ENV=production), with only the node
 * flags given (APP_BENCH_NODE_ARGS, where asked for), not BENCH_NODE_ARGS.
 */
function start(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerProcess> {
  return startServer(script, { NODE_ENV: 'production', ...env }, { name, nodeArgs });
}

/** Busy CPU seconds of the whole machine, all cores (Linux /proc/stat); undefined elsewhere. */
function machineBusySeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / 100;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used by each of `pids` and this process (`generator`) while `work` runs, and
 * by everything else on the machine (`others`): this box is shared, and on a few cores
 * someone else's test run shows up directly in latencies.
 */
async function measuringCpu<T>(
  pids: Record<string, number | undefined>,
  work: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpu: Record<string, number | undefined> }> {
  // Every child of the bench counts as ours, measured or not, so `others` is only the rest.
  const all = serverPids();
  const allBefore = all.map(cpuSeconds);
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const machineBefore = machineBusySeconds();
  const own = process.cpuUsage();
  const started = performance.now();
  const value = await work();
  const seconds = (performance.now() - started) / 1000;
  const ownUsed = process.cpuUsage(own);
  const machineAfter = machineBusySeconds();
  const cpu: Record<string, number | undefined> = { generator: (ownUsed.user + ownUsed.system) / 1e6 };
  for (const [k, pid] of Object.entries(pids)) {
    const after = cpuSeconds(pid);
    cpu[k] = after !== undefined && before[k] !== undefined ? after - before[k] : undefined;
  }
  if (machineBefore !== undefined && machineAfter !== undefined) {
    const childrenUsed = all.reduce<number>((n, pid, i) => {
      const after = cpuSeconds(pid);
      return n + (after !== undefined && allBefore[i] !== undefined ? after - allBefore[i]! : 0);
    }, 0);
    cpu.others = Math.max(0, machineAfter - machineBefore - cpu.generator! - childrenUsed);
  }
  return { value, seconds, cpu };
}

// ---------------------------------------------------------------- a browser

export interface Page {
  status: number;
  url: URL;
  location: string | undefined;
  text: string;
}

export class FlowError extends Error {}

export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new FlowError(message);
}

/** Request durations per kind, per app, to see which hop the middleware lengthens. */
class StepTimes {
  readonly #steps = new Map<string, number[]>();
  add(label: string, ms: number) {
    let list = this.#steps.get(label);
    if (!list) {
      list = [];
      this.#steps.set(label, list);
    }
    list.push(ms);
  }
  get(label: string): number[] {
    return this.#steps.get(label) ?? [];
  }
  labels(): string[] {
    return [...this.#steps.keys()];
  }
}

/**
 * One browser: a cookie jar per origin (the apps and the tenant share the host 127.0.0.1,
 * so the jars stand in for the distinct host names they would have in production), cookies
 * scoped by path as oidc-provider sets them, requests only to the bench's own origins,
 * redirects not followed. The tenant trusts X-Forwarded-For from loopback: each browser
 * sends its own address there, so per-IP limits see many people, not one.
 */
export class Browser {
  readonly #jars = new Map<string, CookieJar>();
  /** Time in the app's requests from /callback on: the only part of a sign-in whose code differs between A and B. */
  appTailMs = 0;
  constructor(
    private readonly roles: ReadonlyMap<string, string>,
    private readonly tenantOrigin: string,
    private readonly ip: string,
    private readonly steps: StepTimes | undefined,
  ) {}

  async request(method: 'GET' | 'POST', target: string, form?: Record<string, string>): Promise<Page> {
    const url = new URL(target);
    const role = this.roles.get(url.origin);
    if (!role) throw new Error(`refusing to leave the bench's servers: ${url.href}`);
    const headers: Record<string, string> = {};
    if (url.origin === this.tenantOrigin) headers['x-forwarded-for'] = this.ip;
    const cookie = this.#jar(url.origin).header(url.pathname);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const started = performance.now();
    const res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await res.text();
    const ms = performance.now() - started;
    this.steps?.add(`${role} ${method} ${url.pathname.replace(/\/[A-Za-z0-9_-]{16,}(?=\/|$)/g, '/:id')}`, ms);
    if (role === 'app' && (url.pathname === '/callback' || this.appTailMs > 0)) this.appTailMs += ms;
    for (const line of res.headers.getSetCookie()) this.#jar(url.origin).store(line, url.pathname);
    const location = res.headers.get('location');
    return { status: res.status, url, location: location === null ? undefined : new URL(location, url).href, text };
  }

  /** GETs redirects (any origin of the bench) until a page that is not one. */
  async follow(page: Page): Promise<Page> {
    for (let hops = 0; hops < MAX_HOPS; hops++) {
      if (page.status < 300 || page.status >= 400) return page;
      expect(page.location, `${page.status} without a Location from ${page.url.pathname}`);
      page = await this.request('GET', page.location);
    }
    throw new FlowError('too many redirects');
  }

  #jar(origin: string): CookieJar {
    let jar = this.#jars.get(origin);
    if (!jar) {
      jar = new CookieJar();
      this.#jars.set(origin, jar);
    }
    return jar;
  }

  cookie(origin: string, name: string): string | undefined {
    return this.#jar(origin).get(name);
  }
}

// ---------------------------------------------------------------- the sign-in

interface AppUnderTest {
  name: string;
  url: string;
}

/**
 * A complete first sign-in of a new person at `app` through the demo social IdP, as a
 * browser does it; resolves with the first page the app shows (it must be /profile: a
 * suggestion page would mean the person had another account, not the case measured).
 */
async function signIn(browser: Browser, app: AppUnderTest, email: string): Promise<Page> {
  const login = await browser.request('GET', `${app.url}/login?connection=demo-social`);
  expect(login.status >= 300 && login.status < 400, `${app.name} /login: ${login.status} ${login.text.slice(0, 200)}`);
  const form = await browser.follow(login);
  expect(
    form.status === 200 && form.url.pathname.startsWith('/demo-idp/interaction/'),
    `expected the demo IdP form, got ${form.status} at ${form.url.pathname}: ${form.text.slice(0, 200)}`,
  );
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
  const action = /<form method="post" action="([^"]+)"/.exec(form.text)?.[1];
  expect(csrf && action, 'the demo IdP form has no CSRF field or action');
  const submitted = await browser.request('POST', new URL(action, form.url).href, {
    _csrf: csrf,
    name: 'Bench Person',
    email,
    email_verified: 'on',
    action: 'login',
  });
  const page = await browser.follow(submitted);
  expect(
    page.status === 200 && page.url.href === `${app.url}/profile`,
    `${app.name}: the sign-in ended with ${page.status} at ${page.url.href}: ${page.text.slice(0, 300)}`,
  );
  expect(page.text.includes(email), `${app.name}: the profile page does not show ${email}`);
  return page;
}

/**
 * Signs a new person in at the peer (bench/peer-sample-server.ts) as a browser does with
 * express-openid-connect 1.x: its /login, the tenant and the demo IdP, then the tenant's
 * form_post page, whose form the browser submits to the peer's /callback, then /user.
 */
async function signInPeer(browser: Browser, peerUrl: string, email: string): Promise<Page> {
  const form = await browser.follow(await browser.request('GET', `${peerUrl}/login?connection=demo-social`));
  expect(
    form.status === 200 && form.url.pathname.startsWith('/demo-idp/interaction/'),
    `peer: expected the demo IdP form, got ${form.status} at ${form.url.pathname}: ${form.text.slice(0, 200)}`,
  );
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
  const action = /<form method="post" action="([^"]+)"/.exec(form.text)?.[1];
  expect(csrf && action, 'the demo IdP form has no CSRF field or action');
  const posting = await browser.follow(
    await browser.request('POST', new URL(action, form.url).href, {
      _csrf: csrf,
      name: 'Bench Peer',
      email,
      email_verified: 'on',
      action: 'login',
    }),
  );
  const callback = /<form[^>]*method="post"[^>]*action="([^"]+)"/i.exec(posting.text)?.[1];
  expect(
    posting.status === 200 && callback && callback.startsWith(`${peerUrl}/callback`),
    `peer: expected the tenant's form_post page, got ${posting.status} at ${posting.url.href}: ${posting.text.slice(0, 300)}`,
  );
  const fields = Object.fromEntries([...posting.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  expect(fields.id_token && fields.state, `peer: the form_post page carries no id_token or state: ${posting.text.slice(0, 300)}`);
  const page = await browser.follow(await browser.request('POST', callback, fields));
  expect(
    page.status === 200 && page.url.href === `${peerUrl}/user` && page.text.includes(email),
    `peer: the sign-in ended with ${page.status} at ${page.url.href}: ${page.text.slice(0, 300)}`,
  );
  return page;
}

/** Two sign-ins of one browser, one after the other, one on each app. */
interface Pair {
  a: number;
  b: number;
  tailA: number;
  tailB: number;
}

interface LoginRun {
  latencies: Map<string, number[]>;
  tails: Map<string, number[]>;
  pairs: Pair[];
  steps: Map<string, StepTimes>;
  failures: number;
  firstFailure: string | undefined;
  seconds: number;
}

/**
 * `clients` browsers, each signing in new people one after another, alternating between the
 * apps (client c starts on app c % 2), until the deadline, `maxPairs` pairs, MAX_LOGINS in all
 * or MAX_FAILURES. Each browser's turns go by twos, one sign-in on each app: a pair is finished
 * even past the deadline, so both apps get as many sign-ins, and its two sign-ins, a moment
 * apart, see the same load.
 */
async function loginLoop(
  apps: [AppUnderTest, AppUnderTest],
  roles: Map<string, string>,
  tenantOrigin: string,
  clients: number,
  durationMs: number,
  sequence: { n: number },
  maxPairs = Number.POSITIVE_INFINITY,
): Promise<LoginRun> {
  const latencies = new Map(apps.map((a) => [a.name, [] as number[]]));
  const tails = new Map(apps.map((a) => [a.name, [] as number[]]));
  const steps = new Map(apps.map((a) => [a.name, new StepTimes()]));
  const pairs: Pair[] = [];
  let failures = 0;
  let count = 0;
  let firstFailure: string | undefined;
  const tag = randomBytes(3).toString('hex');
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      let first: { app: number; ms: number; tail: number } | undefined;
      for (let turn = client; failures < MAX_FAILURES; turn++) {
        const opensPair = (turn - client) % 2 === 0;
        if (opensPair && (performance.now() >= deadline || count >= MAX_LOGINS || pairs.length >= maxPairs)) break;
        const which = turn % 2;
        const app = apps[which]!;
        const i = sequence.n++;
        count++;
        const email = `app-bench-${tag}-${i}@bench.example`;
        const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        const browser = new Browser(roles, tenantOrigin, ip, steps.get(app.name));
        const t0 = performance.now();
        try {
          await signIn(browser, app, email);
          const ms = performance.now() - t0;
          latencies.get(app.name)!.push(ms);
          tails.get(app.name)!.push(browser.appTailMs);
          if (opensPair) first = { app: which, ms, tail: browser.appTailMs };
          else if (first) {
            const [onA, onB] = which === 1 ? [first, { ms, tail: browser.appTailMs }] : [{ ms, tail: browser.appTailMs }, first];
            pairs.push({ a: onA.ms, b: onB.ms, tailA: onA.tail, tailB: onB.tail });
            first = undefined;
          }
        } catch (err) {
          failures++;
          first = undefined;
          firstFailure ??= `${app.name}: ${(err as Error).message}`;
          // A connection failure, not a wrong page: do not spin on it.
          if (!(err instanceof FlowError)) await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }),
  );
  return { latencies, tails, pairs, steps, failures, firstFailure, seconds: (performance.now() - started) / 1000 };
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const sortedCopy = (values: number[]) => Float64Array.from(values).sort();
const median = (values: number[]) => percentile(sortedCopy(values), 50);

/** 95% bootstrap interval of median(a) − median(b): how much of a difference the noise alone makes. */
function bootstrapMedianDifference(a: number[], b: number[], rounds = 1000): [number, number] {
  if (a.length === 0 || b.length === 0) return [Number.NaN, Number.NaN];
  const resampledMedian = (values: number[]) => {
    const sample = new Float64Array(values.length);
    for (let i = 0; i < sample.length; i++) sample[i] = values[Math.floor(Math.random() * values.length)]!;
    return percentile(sample.sort(), 50);
  };
  const differences = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) differences[r] = resampledMedian(a) - resampledMedian(b);
  differences.sort();
  return [percentile(differences, 2.5), percentile(differences, 97.5)];
}

/**
 * The median of the pairs' differences and its 95% bootstrap interval (pairs resampled): the
 * load shared by a pair's two sign-ins cancels out of its difference, what the check adds does not.
 */
function pairedMedianDifference(differences: number[], rounds = 1000): { median: number; low: number; high: number } {
  if (differences.length === 0) return { median: Number.NaN, low: Number.NaN, high: Number.NaN };
  const medians = new Float64Array(rounds);
  const sample = new Float64Array(differences.length);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sample.length; i++) sample[i] = differences[Math.floor(Math.random() * differences.length)]!;
    medians[r] = percentile(sample.sort(), 50);
  }
  medians.sort();
  return { median: median(differences), low: percentile(medians, 2.5), high: percentile(medians, 97.5) };
}

// ---------------------------------------------------------------- autocannon

interface Load {
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  other: number;
  errors: number;
  cpu: Record<string, number | undefined>;
  seconds: number;
  /** Each slice's answered requests and autocannon's seconds, for the ratio by round. */
  slices: SliceRate[];
}

/** One autocannon run, its result not yet aggregated (its latencies still a histogram), and the CPU used meanwhile. */
interface CannonSlice {
  result: autocannon.Result;
  cpu: Record<string, number | undefined>;
  seconds: number;
}

/** autocannon's own merge of unaggregated results: their latency histograms added, the rest summed. */
const aggregateResults = (autocannon as unknown as { aggregateResult(results: autocannon.Result[], options: autocannon.Options): autocannon.Result })
  .aggregateResult;

async function cannonSlice(options: autocannon.Options, pids: Record<string, number | undefined>): Promise<CannonSlice> {
  const {
    value: result,
    seconds,
    cpu,
  } = await measuringCpu(pids, () => autocannon({ pipelining: 1, timeout: REQUEST_TIMEOUT_MS / 1000, ...options, skipAggregateResult: true }));
  return { result, cpu, seconds };
}

/** The slices of one side as one load: requests, seconds and each process's CPU summed, latencies from the merged histograms. */
function loadOf(slices: CannonSlice[], options: autocannon.Options, expectStatus: '2xx' | '3xx' = '2xx'): Load {
  const sum = (f: (s: CannonSlice) => number) => slices.reduce((n, s) => n + f(s), 0);
  const rates = slices.map((s) => ({ count: s.result[expectStatus], seconds: s.result.duration }));
  const ok = sum((s) => s.result[expectStatus]);
  const all = sum((s) => s.result['1xx'] + s.result['2xx'] + s.result['3xx'] + s.result['4xx'] + s.result['5xx']);
  const cpu: Record<string, number | undefined> = {};
  for (const key of new Set(slices.flatMap((s) => Object.keys(s.cpu)))) {
    const used = slices.map((s) => s.cpu[key]);
    cpu[key] = used.every((u) => u !== undefined) ? used.reduce((n, u) => n + u, 0) : undefined;
  }
  const { latency } = aggregateResults(
    slices.map((s) => s.result),
    options,
  );
  return {
    rps: summedRate(rates),
    p50: latency.p50,
    p99: latency.p99,
    ok,
    other: all - ok,
    errors: sum((s) => s.result.errors + s.result.timeouts),
    cpu,
    seconds: sum((s) => s.seconds),
    slices: rates,
  };
}

async function cannon(options: autocannon.Options, pids: Record<string, number | undefined>, expectStatus: '2xx' | '3xx' = '2xx'): Promise<Load> {
  return loadOf([await cannonSlice(options, pids)], options, expectStatus);
}

/** A process's CPU as a share of one core: "61%". */
function share(cpu: Record<string, number | undefined>, seconds: number, key: string): string {
  const used = cpu[key];
  return used === undefined ? 'n/a' : `${fmt((used / seconds) * 100)}%`;
}

/** "app 61% (412 µs/req)": a process's share of one core and its CPU time per answered request. */
function cpuNote(load: Load, key: string): string {
  const used = load.cpu[key];
  if (used === undefined) return `${key} n/a`;
  return `${key} ${fmt((used / load.seconds) * 100)}% (${fmt((used / Math.max(1, load.ok)) * 1e6)} µs/req)`;
}

// ---------------------------------------------------------------- the benchmark

export async function benchApp(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-app-bench-'));
  const nodeArgs = (process.env.APP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  try {
    // ---- processes: the tenant first (it registers both apps), then both apps at once.
    const ports = [await freePort(), await freePort()];
    const appUrls = ports.map((p) => `http://127.0.0.1:${p}`);
    // Held until the peer starts: the tenant, listening on port 0 meanwhile, must not take it.
    const peerPort = await holdPort();
    const peerUrl = `http://127.0.0.1:${peerPort.port}`;
    const tenantChild = await start('tenant', 'app-tenant-server.ts', {
      LOG_LEVEL: 'silent',
      APP_BENCH_APP_URLS: appUrls.join(','),
      APP_BENCH_PEER_URL: peerUrl,
    });
    const {
      url: tenantUrl,
      wirings,
      peer: peerClient,
    } = JSON.parse(tenantChild.ready) as { url: string; wirings: EmbeddedTenantWiring[]; peer: { clientId: string; clientSecret: string } };
    const sessionSecret = randomBytes(32).toString('base64url');
    const [childA, childB] = (await Promise.all(
      [true, false].map((suggestions, i) =>
        start(
          `app ${suggestions ? 'A' : 'B'}`,
          'app-server.ts',
          {
            NODE_ENV: 'production',
            SESSION_SECRET: sessionSecret,
            HOST: '127.0.0.1',
            PORT: String(ports[i]),
            APP_URL: appUrls[i]!,
            DATA_DIR: join(dataDir, `app-${i}`),
            LINK_SUGGESTIONS: String(suggestions),
            LOG_LEVEL: 'warn',
            APP_BENCH_WIRING: JSON.stringify(wirings[i]),
          },
          nodeArgs,
        ),
      ),
    )) as [ServerProcess, ServerProcess];
    const appA: AppUnderTest = { name: 'A (LINK_SUGGESTIONS=true)', url: appUrls[0]! };
    const appB: AppUnderTest = { name: 'B (LINK_SUGGESTIONS=false)', url: appUrls[1]! };
    const tenantOrigin = new URL(tenantUrl).origin;
    const roles = new Map([
      [tenantOrigin, 'tenant'],
      [appA.url, 'app'],
      [appB.url, 'app'],
      [peerUrl, 'peer'],
    ]);
    const pids = { tenant: tenantChild.pid, 'app A': childA.pid, 'app B': childB.pid };

    // ---- 1. sign-ins, interleaved
    log(
      `\n### 1. Suggested-linking overhead on sign-in: ${CLIENTS} browsers alternating A, B, A, B…, ${fmt(LOGIN_PAIRS)} pairs or ${LOGIN_MS / 1000} s after a ${LOGIN_WARMUP_MS / 1000} s warm-up`,
    );
    const sequence = { n: 0 };
    await loginLoop([appA, appB], roles, tenantOrigin, CLIENTS, LOGIN_WARMUP_MS, sequence); // discovery, JIT, tokens, statement caches
    const {
      value: run,
      seconds: loginSeconds,
      cpu: loginCpu,
    } = await measuringCpu(pids, () => loginLoop([appA, appB], roles, tenantOrigin, CLIENTS, LOGIN_MS, sequence, LOGIN_PAIRS));
    const a = run.latencies.get(appA.name)!;
    const b = run.latencies.get(appB.name)!;
    const medA = median(a);
    const medB = median(b);
    const overhead = pairedMedianDifference(run.pairs.map((p) => p.a - p.b));
    const diff = medA - medB;
    const [low, high] = bootstrapMedianDifference(a, b);
    const loginShare = (k: string) => share(loginCpu, loginSeconds, k);
    log(
      `${a.length + b.length} sign-ins in ${fmt(run.seconds, 1)} s (${fmt((a.length + b.length) / run.seconds, 1)}/s), ${run.pairs.length} pairs, ${run.failures} failed${run.firstFailure ? ` (first: ${run.firstFailure})` : ''}`,
    );
    log(
      `CPU, share of one core: tenant ${loginShare('tenant')}, app A ${loginShare('app A')}, app B ${loginShare('app B')}, load generator ${loginShare('generator')}, other processes on the machine ${loginShare('others')}`,
    );
    for (const [app, values] of [
      [appA, a],
      [appB, b],
    ] as const) {
      const sorted = sortedCopy(values);
      log(
        `${app.name}: ${values.length} sign-ins, median ${fmt(percentile(sorted, 50), 1)} ms, p90 ${fmt(percentile(sorted, 90), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms`,
      );
    }
    log(
      `median of the pairs' A − B (one browser's sign-in on A and its next or previous on B): ${fmt(overhead.median, 2)} ms (95% bootstrap interval ${fmt(overhead.low, 2)} … ${fmt(overhead.high, 2)} ms)`,
    );
    log(`difference of medians A − B, all sign-ins: ${fmt(diff, 2)} ms (95% bootstrap interval ${fmt(low, 2)} … ${fmt(high, 2)} ms)`);
    // The hop that runs the check: /callback.
    log('median per request kind, A | B (ms):');
    const stepsA = run.steps.get(appA.name)!;
    const stepsB = run.steps.get(appB.name)!;
    for (const label of stepsA.labels()) {
      log(`  ${fmt(median(stepsA.get(label)), 2).padStart(7)} | ${fmt(median(stepsB.get(label)), 2).padStart(7)}  ${label}`);
    }
    // The app's requests from /callback to the first page are the only ones whose code
    // differs between A and B (A marks the session at /callback; its profile makes the check
    // with its own candidates read, started beside its read of the user, and clears the mark):
    // their difference is the check's cost without the noise of the ten identical tenant hops
    // before them.
    const tail = pairedMedianDifference(run.pairs.map((p) => p.tailA - p.tailB));
    log(
      `app requests from /callback to the first page, per sign-in, median of the pairs' A − B: ${fmt(tail.median, 2)} ms (95% bootstrap interval ${fmt(tail.low, 2)} … ${fmt(tail.high, 2)} ms)`,
    );
    const overheadPass = overhead.median < TARGET_OVERHEAD_MS && overhead.high < TARGET_OVERHEAD_UPPER_MS && run.failures === 0 && run.pairs.length > 0;
    recordTarget({
      name: `suggested-linking overhead per sign-in, median A − B (${CLIENTS} browsers, ${run.pairs.length} pairs)`,
      measured: `${fmt(overhead.median, 2)} ms (95% CI ${fmt(overhead.low, 2)} … ${fmt(overhead.high, 2)})`,
      floor: `B, the same app without the check: median ${fmt(medB, 1)} ms a sign-in`,
      target: `< ${TARGET_OVERHEAD_MS} ms, upper CI < ${TARGET_OVERHEAD_UPPER_MS} ms`,
      pass: overheadPass,
    });
    results.push(
      {
        name: `sign-in through the app, A (suggestions on), median / p90 (${a.length} sign-ins)`,
        value: `${fmt(medA, 1)} / ${fmt(percentile(sortedCopy(a), 90), 1)} ms`,
      },
      {
        name: `sign-in through the app, B (suggestions off), median / p90 (${b.length} sign-ins)`,
        value: `${fmt(medB, 1)} / ${fmt(percentile(sortedCopy(b), 90), 1)} ms`,
      },
      {
        name: `suggested-linking overhead per sign-in: median of the pairs' A − B (${CLIENTS} browsers, interleaved, ${run.pairs.length} pairs, ${run.failures} failed; other processes ${loginShare('others')} of a core)`,
        value: `${fmt(overhead.median, 2)} ms (95% CI ${fmt(overhead.low, 2)} … ${fmt(overhead.high, 2)} ms)`,
        target: `< ${TARGET_OVERHEAD_MS} ms, upper CI < ${TARGET_OVERHEAD_UPPER_MS} ms`,
        pass: overheadPass,
      },
      {
        // Not judged: the earlier figure, whose interval the load's swings widen (see docs/performance.md).
        name: 'the same as median A − median B over all sign-ins',
        value: `${fmt(diff, 2)} ms (95% CI ${fmt(low, 2)} … ${fmt(high, 2)} ms)`,
      },
      {
        name: "the same, on the app requests that differ (/callback to the first page), median of the pairs' A − B",
        // Where the difference sits, not a second target: A reads the candidates fresh beside
        // the profile's read of the user and saves the session, B reads them beside the logs.
        value: `${fmt(tail.median, 2)} ms (95% CI ${fmt(tail.low, 2)} … ${fmt(tail.high, 2)} ms; A ${fmt(median(run.tails.get(appA.name)!), 2)}, B ${fmt(median(run.tails.get(appB.name)!), 2)} ms)`,
      },
    );

    // One sign-in at a time: what the middleware costs when nothing queues (its own work
    // plus one more round trip to the tenant), next to what it costs under load above.
    const {
      value: alone,
      seconds: aloneSeconds,
      cpu: aloneCpu,
    } = await measuringCpu({}, () => loginLoop([appA, appB], roles, tenantOrigin, 1, SEQUENTIAL_MS, sequence));
    const aloneA = alone.tails.get(appA.name)!;
    const aloneB = alone.tails.get(appB.name)!;
    const aloneDiff = median(aloneA) - median(aloneB);
    const [aloneLow, aloneHigh] = bootstrapMedianDifference(aloneA, aloneB);
    const aloneLogins = median(alone.latencies.get(appA.name)!) - median(alone.latencies.get(appB.name)!);
    log(
      `one sign-in at a time (${SEQUENTIAL_MS / 1000} s, ${aloneA.length} + ${aloneB.length} sign-ins, ${alone.failures} failed): sign-in median A ${fmt(median(alone.latencies.get(appA.name)!), 1)} ms, B ${fmt(median(alone.latencies.get(appB.name)!), 1)} ms (A − B ${fmt(aloneLogins, 2)} ms); app requests from /callback on A ${fmt(median(aloneA), 2)} ms, B ${fmt(median(aloneB), 2)} ms, A − B ${fmt(aloneDiff, 2)} ms (95% bootstrap interval ${fmt(aloneLow, 2)} … ${fmt(aloneHigh, 2)} ms); other processes on the machine ${share(aloneCpu, aloneSeconds, 'others')} of a core`,
    );
    results.push({
      name: 'the app requests from /callback on, A − B, with one sign-in at a time (no queueing)',
      value: `${fmt(aloneDiff, 2)} ms (95% CI ${fmt(aloneLow, 2)} … ${fmt(aloneHigh, 2)} ms; whole sign-in ${fmt(aloneLogins, 2)} ms)`,
    });

    // ---- 2. profile page throughput
    log(
      `\n### 2. Profile page throughput: ${CONNECTIONS} connections, ${PAGE_SECONDS} s each (after ${WARMUP_SECONDS} s warm-up); /profile and its floor in ${PAGE_ROUNDS} rounds of ${PAGE_SLICE_SECONDS} s a side, order reversed each round`,
    );
    const email = `app-bench-profile-${randomBytes(3).toString('hex')}@bench.example`;
    const browser = new Browser(roles, tenantOrigin, '10.255.0.1', undefined);
    const page = await signIn(browser, appA, email);
    const sid = browser.cookie(appA.url, 'accord.sid');
    expect(sid, 'no accord.sid cookie after the sign-in');
    const headers = { cookie: `accord.sid=${sid}` };
    // The bare page sends exactly these bytes: for one session the page does not change (its CSRF token is the session's).
    const pageFile = join(dataDir, 'profile.html');
    writeFileSync(pageFile, page.text);
    const barePage = await start('bare page', 'app-bare-page.ts', { BARE_PAGE_FILE: pageFile });
    const floorPage = await start(
      'floor page',
      'app-floor-page.ts',
      {
        BARE_PAGE_FILE: pageFile,
        FLOOR_SESSION_USER: JSON.stringify(sessionUser(join(dataDir, 'app-0', 'app.sqlite'), sid)),
      },
      nodeArgs,
    );
    const floorUrl = `http://127.0.0.1:${floorPage.ready}`;
    const floorSignIn = await fetch(`${floorUrl}/floor/sign-in`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const floorCookie = floorSignIn.headers
      .getSetCookie()
      .map((c) => c.split(';')[0]!)
      .find((c) => c.startsWith('accord.sid='));
    expect(floorSignIn.ok && floorCookie, `floor sign-in: ${floorSignIn.status}`);
    const barePort = await freePort();
    const bareJson = await start('bare JSON', 'bare-server.ts', { BARE_PORT: String(barePort) });
    const bareUrl = `http://127.0.0.1:${barePage.ready}`;

    // The profile and its floor in alternating slices (bench/slices.ts): the machine's drift
    // falls on both alike, and each round's ratio shows how much there was.
    const profileOptions = { url: `${appA.url}/profile`, headers, connections: CONNECTIONS, duration: PAGE_SLICE_SECONDS };
    const floorOptions = { url: `${floorUrl}/page`, headers: { cookie: floorCookie }, connections: CONNECTIONS, duration: PAGE_SLICE_SECONDS };
    await cannon({ ...profileOptions, duration: WARMUP_SECONDS }, {});
    await cannon({ ...floorOptions, duration: WARMUP_SECONDS }, {});
    const sliced = await alternate(PAGE_ROUNDS, (side) =>
      side === 'accord' ? cannonSlice(profileOptions, { app: childA.pid, tenant: tenantChild.pid }) : cannonSlice(floorOptions, { floor: floorPage.pid }),
    );
    const profile = loadOf(sliced.accord, profileOptions);
    const floor = loadOf(sliced.floor, floorOptions);
    const floorRounds = formatRoundRatios(roundRatios(profile.slices, floor.slices));
    await cannon({ url: `${bareUrl}/page`, connections: CONNECTIONS, duration: WARMUP_SECONDS }, {});
    const bare = await cannon({ url: `${bareUrl}/page`, connections: CONNECTIONS, duration: PAGE_SECONDS }, { bare: barePage.pid });
    // The peer: Auth0's linking sample's signed-in page against the same tenant, a person of its own.
    await peerPort.release();
    const peerChild = await start('peer', 'peer-sample-server.ts', {
      PEER_PORT: String(peerPort.port),
      ISSUER_BASE_URL: tenantOrigin,
      BASE_URL: peerUrl,
      CLIENT_ID: peerClient.clientId,
      CLIENT_SECRET: peerClient.clientSecret,
      APP_SESSION_SECRET: randomBytes(32).toString('base64url'),
    });
    const peerBrowser = new Browser(roles, tenantOrigin, '10.255.0.2', undefined);
    await signInPeer(peerBrowser, peerUrl, `app-bench-peer-${randomBytes(3).toString('hex')}@bench.example`);
    const peerOptions = { url: `${peerUrl}/user`, headers: { cookie: `appSession=${peerBrowser.cookie(peerUrl, 'appSession')}` }, connections: CONNECTIONS };
    await cannon({ ...peerOptions, duration: WARMUP_SECONDS }, {});
    const peer = await cannon({ ...peerOptions, duration: PAGE_SECONDS }, { peer: peerChild.pid, tenant: tenantChild.pid });
    await peerChild.stop();
    // Where the profile's time goes: the app without tenant calls, then the tenant without the app.
    const healthz = await cannon({ url: `${appA.url}/healthz`, connections: CONNECTIONS, duration: SIDE_SECONDS }, { app: childA.pid });
    const home = await cannon(
      { url: `${appA.url}/`, headers, connections: CONNECTIONS, duration: SIDE_SECONDS },
      { app: childA.pid, tenant: tenantChild.pid },
      '3xx',
    );
    const tenantCalls = await managementCalls(tenantUrl, wirings[0]!, email, SIDE_SECONDS, tenantChild.pid);
    const json = await cannon({ url: `http://127.0.0.1:${barePort}/x`, connections: CONNECTIONS, duration: SIDE_SECONDS }, { bare: bareJson.pid });
    // The session must have held for the whole run: a lost one answers 303 to /login.
    const still = await browser.request('GET', `${appA.url}/profile`);
    expect(still.status === 200, `the bench session ended during the run: ${still.status}`);

    const ratio = bare.rps > 0 ? profile.rps / bare.rps : Number.NaN;
    const line = (what: string, l: Load, cpuKeys: string[]) =>
      log(
        `${what}: ${fmt(l.rps)} req/s, p50 ${l.p50} ms, p99 ${l.p99} ms, ${l.other} unexpected statuses, ${l.errors} errors; CPU ${[...cpuKeys, 'generator'].map((k) => cpuNote(l, k)).join(', ')}, other processes ${share(l.cpu, l.seconds, 'others')}`,
      );
    line(`app GET /profile (${fmt(page.text.length)} bytes of HTML)`, profile, ['app', 'tenant']);
    line('bare Express, same HTML (bench/app-bare-page.ts)', bare, ['bare']);
    line("floor: the same HTML behind the app's Helmet, express-session (its settings and SQLite store) and passport (bench/app-floor-page.ts)", floor, [
      'floor',
    ]);
    line("peer: Auth0's linking sample's GET /user, express-openid-connect 1.x, 2 Management API calls, no cache (bench/peer-sample-server.ts)", peer, [
      'peer',
      'tenant',
    ]);
    line('bare Express JSON (bench/bare-server.ts)', json, ['bare']);
    line('app GET /healthz (helmet + Express only: before static files and sessions)', healthz, ['app']);
    line('app GET / signed in → 303 (+ static-file lookup, session read and touch, passport, CSRF; no tenant call)', home, ['app', 'tenant']);
    line('tenant alone: the 3 Management API calls of a /profile (getUser, users-by-email, logs), per call', tenantCalls, ['tenant']);
    const floorRatio = bare.rps > 0 ? floor.rps / bare.rps : Number.NaN;
    const both = (load: Load, key: string) => {
      const own = cpuMicros(load, key);
      const tenant = cpuMicros(load, 'tenant');
      return own !== undefined && tenant !== undefined ? own + tenant : undefined;
    };
    const profileBoth = both(profile, 'app');
    const peerBoth = both(peer, 'peer');
    log(
      `Accord /profile ÷ the peer (Auth0's sample page): ${fmt((profile.rps / peer.rps) * 100, 1)}% by req/s${profileBoth !== undefined && peerBoth !== undefined ? `; CPU per page, app + tenant: ${fmt(profileBoth)} vs ${fmt(peerBoth)} µs (peer ÷ Accord ${fmt(peerBoth / profileBoth, 2)})` : ''}`,
    );
    const profileCpu = cpuMicros(profile, 'app');
    const floorCpu = cpuMicros(floor, 'floor');
    recordTarget({
      name: `app GET /profile ÷ floor (${CONNECTIONS} connections)`,
      measured: `${fmt(profile.rps)} req/s, ${cpuPerRequest(profile, 'app')} µs app CPU/req (+ ${cpuPerRequest(profile, 'tenant')} µs tenant)`,
      floor: `Helmet + express-session + passport alone, in ${PAGE_ROUNDS} slices alternating with these: ${fmt(floor.rps)} req/s, ${cpuPerRequest(floor, 'floor')} µs CPU/req; ratio by round ${floorRounds}`,
      ratio: profile.rps / floor.rps,
      cpuRatio: profileCpu !== undefined && floorCpu !== undefined ? floorCpu / profileCpu : undefined,
      target: `≥ ${TARGET_FLOOR_RATIO.toFixed(2)}`,
      pass: profile.rps / floor.rps >= TARGET_FLOOR_RATIO && profile.other === 0 && profile.errors === 0,
    });
    log(
      `profile ÷ bare page: ${fmt(ratio * 100, 1)}%; floor ÷ bare page: ${fmt(floorRatio * 100, 1)}%; profile ÷ floor: ${fmt((profile.rps / floor.rps) * 100, 1)}% (by round ${floorRounds}); profile ÷ bare JSON: ${fmt((profile.rps / json.rps) * 100, 1)}%`,
    );
    results.push(
      {
        name: `app GET /profile (signed in) ÷ bare Express HTML page, ${CONNECTIONS} connections, ${PAGE_SECONDS} s (other processes ${share(profile.cpu, profile.seconds, 'others')} / ${share(bare.cpu, bare.seconds, 'others')} of a core)`,
        value: `${fmt(ratio * 100, 1)}% (${fmt(profile.rps)} vs ${fmt(bare.rps)} req/s; p50 ${profile.p50} vs ${bare.p50} ms, p99 ${profile.p99} vs ${bare.p99} ms)`,
        target: `≥ ${TARGET_RATIO * 100}%`,
        pass: ratio >= TARGET_RATIO && profile.other === 0 && profile.errors === 0,
      },
      {
        // Not a target: the most any app on these packages can reach here, next to the 50% asked for.
        name: `floor: the same HTML behind Helmet, express-session and passport alone (the app's settings and store) ÷ bare page`,
        value: `${fmt(floorRatio * 100, 1)}% (${fmt(floor.rps)} req/s, ${cpuPerRequest(floor, 'floor')} µs CPU/req vs bare ${cpuPerRequest(bare, 'bare')}); app ÷ floor ${fmt((profile.rps / floor.rps) * 100, 1)}%, by round (${PAGE_ROUNDS} rounds of ${PAGE_SLICE_SECONDS} s a side, order reversed each round) ${floorRounds}`,
      },
      {
        // Not a target: the same kind of page as Auth0's own linking sample builds it, against the same tenant, in the same run.
        name: `peer: Auth0's linking sample's signed-in page (express-openid-connect 1.x, its 2 Management API calls a page, no cache), ${CONNECTIONS} connections, ${PAGE_SECONDS} s`,
        value: `${fmt(peer.rps)} req/s, CPU ${cpuPerRequest(peer, 'peer')} + ${cpuPerRequest(peer, 'tenant')} µs (peer + tenant); Accord /profile ÷ peer: ${fmt(profile.rps / peer.rps, 2)} by req/s${profileBoth !== undefined && peerBoth !== undefined ? `, ${fmt(peerBoth / profileBoth, 2)} by CPU per page (app + tenant ${fmt(profileBoth)} vs ${fmt(peerBoth)} µs)` : ''}`,
      },
      {
        name: `app GET /profile ÷ bare Express JSON (bench/bare-server.ts, ${SIDE_SECONDS} s)`,
        value: `${fmt((profile.rps / json.rps) * 100, 1)}% (${fmt(json.rps)} req/s)`,
      },
      { name: 'app GET /profile CPU per request: app + tenant', value: `${cpuPerRequest(profile, 'app')} + ${cpuPerRequest(profile, 'tenant')} µs` },
      { name: 'app GET /healthz (no session): req/s, app CPU per request', value: `${fmt(healthz.rps)} req/s, ${cpuPerRequest(healthz, 'app')} µs` },
      { name: 'app GET / signed in (session, no tenant calls): req/s, app CPU per request', value: `${fmt(home.rps)} req/s, ${cpuPerRequest(home, 'app')} µs` },
      {
        name: 'tenant alone, Management API calls of a /profile: calls/s, CPU per call',
        value: `${fmt(tenantCalls.rps)} calls/s, ${cpuPerRequest(tenantCalls, 'tenant')} µs`,
      },
    );

    for (const c of [tenantChild, childA, childB]) {
      const said = c
        .output()
        .split('\n')
        .filter((l) => l && !l.startsWith('READY'))
        .slice(0, 5);
      if (said.length) log(`${c.name} logged:\n  ${said.map((l) => l.slice(0, 300)).join('\n  ')}`);
    }
    return results;
  } finally {
    await stopServers();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The passport user of the app's session `sid` (the accord.sid cookie's value), read from the
 * app's SQLite file: the floor page gets a session of exactly the app's size.
 */
function sessionUser(sqliteFile: string, cookieValue: string): unknown {
  const signed = decodeURIComponent(cookieValue);
  const sid = signed.slice(2, signed.lastIndexOf('.'));
  const db = new SQLite(sqliteFile, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('select sess from app_sessions where sid = ?').get(sid) as { sess: string } | undefined;
    const user = row ? (JSON.parse(row.sess) as { passport?: { user?: unknown } }).passport?.user : undefined;
    expect(user, `the app's session ${sid} has no signed-in user`);
    return user;
  } finally {
    db.close();
  }
}

function cpuMicros(load: Load, key: string): number | undefined {
  const used = load.cpu[key];
  return used === undefined ? undefined : (used / Math.max(1, load.ok)) * 1e6;
}

function cpuPerRequest(load: Load, key: string): string {
  const micros = cpuMicros(load, key);
  return micros === undefined ? 'n/a' : fmt(micros);
}

/**
 * The tenant's share of a /profile: the three Management API calls the page makes, in turn
 * on each connection, with the token of app A's own management client.
 */
async function managementCalls(tenantUrl: string, wiring: EmbeddedTenantWiring, email: string, seconds: number, tenantPid: number | undefined): Promise<Load> {
  const tokenRes = await fetch(`${tenantUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: wiring.managementClientId,
      client_secret: wiring.managementClientSecret,
      audience: `${tenantUrl}/api/v2/`,
    }),
  });
  expect(tokenRes.ok, `management token: ${tokenRes.status}`);
  const { access_token: token } = (await tokenRes.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  const byEmail = `/api/v2/users-by-email?${new URLSearchParams({ email })}`;
  const users = (await (await fetch(`${tenantUrl}${byEmail}`, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()) as Array<{
    user_id: string;
  }>;
  expect(users.length === 1, `users-by-email found ${users.length} users for the bench person`);
  const id = encodeURIComponent(users[0]!.user_id);
  return cannon(
    {
      url: tenantUrl,
      headers,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [
        { method: 'GET', path: `/api/v2/users/${id}` },
        { method: 'GET', path: byEmail },
        { method: 'GET', path: `/api/v2/users/${id}/logs?per_page=50&sort=date%3A-1` },
      ],
    },
    { tenant: tenantPid },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  log(`# Accord app benchmarks${QUICK ? ' (BENCH_QUICK: shortened, not for reporting)' : ''}`);
  // Everything here is CPU-bound on a few cores: other work on the machine shows up in the figures.
  const load = () =>
    loadavg()
      .map((n) => n.toFixed(2))
      .join(' ');
  log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${new Date().toISOString()}, load average ${load()}`);
  try {
    const rows = await benchApp();
    log(`\n## Summary (one run, ${fmt((performance.now() - started) / 1000)} s; load average at the end ${load()})\n`);
    log('| Benchmark | Measured | Target | Result |');
    log('|---|---|---|---|');
    for (const r of rows) log(`| ${r.name} | ${r.value} | ${r.target ?? ''} | ${r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL'} |`);
    log('');
    printTargets(log);
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  }
}
