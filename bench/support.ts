/** What the benchmarks share: a cookie jar, CPU and memory accounting from /proc, server processes, PostgreSQL schemas, the tenant's bench settings. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { TenantConfig } from '../src/tenant/tenant-config.ts';
import { defaultConnections } from '../src/tenant/connections.ts';

/** The bench RP's redirect_uri: nothing listens there, the load generator reads the code off the Location header. */
export const BENCH_REDIRECT_URI = 'http://127.0.0.1:3999/callback';

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** Cookies of one origin by name and path (oidc-provider scopes some to `/login/<uid>`, `/authorize/<uid>`…). */
export class CookieJar {
  readonly #cookies = new Map<string, Cookie>();

  /** The Cookie header for a request to `path`: most specific path first, as browsers send them. */
  header(path: string): string {
    const matching = [...this.#cookies.values()].filter(
      (c) => path === c.path || (path.startsWith(c.path) && (c.path.endsWith('/') || path[c.path.length] === '/')),
    );
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** Takes one Set-Cookie line of a response to `requestPath`. */
  store(line: string, requestPath: string): void {
    const [pair = '', ...attributes] = line.split(';');
    const at = pair.indexOf('=');
    if (at <= 0) return;
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    let path = requestPath.slice(0, Math.max(1, requestPath.lastIndexOf('/')));
    let expired = false;
    for (const attribute of attributes) {
      const eq = attribute.indexOf('=');
      const key = (eq < 0 ? attribute : attribute.slice(0, eq)).trim().toLowerCase();
      const val = eq < 0 ? '' : attribute.slice(eq + 1).trim();
      if (key === 'path' && val.startsWith('/')) path = val;
      else if (key === 'max-age' && Number(val) <= 0) expired = true;
      else if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
    }
    const key = `${name}\0${path}`;
    if (expired) this.#cookies.delete(key);
    else this.#cookies.set(key, { name, value, path });
  }

  get(name: string): string | undefined {
    for (const c of this.#cookies.values()) if (c.name === name) return c.value;
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in bytes, from /proc (Linux); undefined elsewhere. */
export function rssBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A server process the bench started, ready: the rest of its `READY …` line, what it has said, its stop. */
export type ServerProcess = ChildProcess & {
  /** The name its errors and logs go under (the script's, unless startServer was given one). */
  name: string;
  ready: string;
  /** The start of what it wrote to stdout and stderr (up to 20,000 characters). */
  output(): string;
  /** SIGTERM, SIGKILL 5 s later if it is still running; resolves once it has exited. */
  stop(): Promise<void>;
};

const servers = new Set<ServerProcess>();
// Whatever happens to the bench, its servers must not outlive it.
process.on('exit', () => {
  for (const child of servers) child.kill('SIGKILL');
});

/** Kills every server still running (the bench failed). */
export function killServers(): void {
  for (const child of servers) child.kill('SIGKILL');
}

/** Stops every server still running and waits until they have exited. */
export async function stopServers(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop()));
}

/** The process ids of the servers running now: all CPU they use is the bench's, measured or not. */
export function serverPids(): (number | undefined)[] {
  return [...servers].map((s) => s.pid);
}

/**
 * The environment of a server the bench starts: the bench's own, plus `env`. Only what `env`
 * says may point a server at a database, a Redis or a tenant: DATABASE_URL in the bench's own
 * environment is for the PostgreSQL phases, not for every server.
 */
export function serverEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const {
    DATABASE_URL: _a,
    APP_DATABASE_URL: _b,
    REDIS_URL: _c,
    REDIS_PREFIX: _d,
    TENANT_URL: _e,
    TENANT_CONFIG: _f,
    ISSUER_BASE_URL: _g,
    AUTH0_DOMAIN: _h,
    ...inherited
  } = process.env;
  return { ...inherited, ...env };
}

/**
 * Spawns `node [flags] --import tsx bench/<script>` with the bench's environment plus `env`,
 * and resolves once it prints its `READY …` line (a server that does not within `timeoutMs`
 * is stopped). The flags are `nodeArgs`, else BENCH_NODE_ARGS, e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/p" (profiling only).
 */
export function startServer(
  script: string,
  env: Record<string, string>,
  options: { name?: string; nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const name = options.name ?? script;
  const nodeArgs = options.nodeArgs ?? (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, 'bench', script)], {
    // stdin is a pipe this process holds: a server that watches it ends with the bench even when the bench dies unannounced.
    cwd: ROOT,
    env: serverEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  let stdout = '';
  const server: ServerProcess = Object.assign(child, {
    name,
    ready: '',
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  });
  servers.add(server);
  void exited.then(() => servers.delete(server));
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => {
      void server.stop();
      reject(new Error(`${name} did not start within ${timeoutMs / 1000} s:\n${output}`));
    }, timeoutMs);
    // Keep only the start of what a server says: enough to show a warning, never a memory leak.
    const said = (d: Buffer) => {
      if (output.length < 20_000) output += d.toString();
    };
    child.stderr!.on('data', said);
    child.stdout!.on('data', (d: Buffer) => {
      said(d);
      if (ready || stdout.length >= 20_000) return;
      stdout += d.toString();
      const line = /^READY ?(.*)\n/m.exec(stdout); // the whole line: a pipe may split it
      if (line) {
        ready = true;
        clearTimeout(timer);
        server.ready = line[1] ?? '';
        resolve(server);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`${name} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${output}`));
    });
  });
}

/** PostgreSQL from DATABASE_URL, or why there is none. */
export function benchPostgresUrl(): { url: string } | { url: undefined; reason: string } {
  const url = process.env.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) return { url };
  return { url: undefined, reason: 'DATABASE_URL is not set (set DATABASE_URL=postgres://… to run it)' };
}

/** A fresh schema for one benchmark: its name, a URL whose connections use it, and its removal. */
export async function postgresSchema(url: string, label: string): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const schema = `accord_bench_${label}_${randomBytes(4).toString('hex')}`;
  const admin = async (text: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema ${schema}`);
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return {
    schema,
    url: `${url}${url.includes('?') ? '&' : '?'}options=${options}&application_name=accord-bench`,
    drop: () => admin(`drop schema if exists ${schema} cascade`),
  };
}

/**
 * A port of 127.0.0.1 held open until `release`: for a server started later whose address
 * another server must know first, so that no server listening on port 0 meanwhile takes it.
 */
export function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      resolve({ port, release: () => new Promise<void>((done) => s.close(() => done())) });
    });
  });
}

/** A port of 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A server already listening on a free port of 127.0.0.1 (the port first, so the tenant's
 * issuer is the address its clients really use) and the tenant's bench settings for it.
 */
export async function benchTenantListener(
  label: string,
  managementRateLimitPerMinute: number,
): Promise<{ server: Server; config: TenantConfig; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), `accord-${label}-`));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const config = benchTenantConfig({
    port,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    sqliteFile: join(dataDir, 'accord.sqlite'),
    managementRateLimitPerMinute,
  });
  return { server, config, dataDir };
}

/**
 * A tenant for load: SQLite in `dataDir`, the demo IdP on, and limits raised so the
 * benchmark measures the work rather than the limiters (the passwordless limits are
 * constants: load generators give each simulated browser its own X-Forwarded-For instead,
 * trusted from loopback).
 */
function benchTenantConfig(options: { port: number; url: string; dataDir: string; sqliteFile: string; managementRateLimitPerMinute: number }): TenantConfig {
  return {
    env: 'test',
    host: '127.0.0.1',
    port: options.port,
    url: options.url,
    name: 'Accord Bench',
    databaseUrl: undefined,
    sqliteFile: options.sqliteFile,
    dataDir: options.dataDir,
    logLevel: 'silent',
    managementTokenTtl: 3600,
    managementRateLimitPerMinute: options.managementRateLimitPerMinute,
    connections: defaultConnections(),
    mail: { transport: 'outbox', smtpUrl: undefined, from: 'Accord Bench <no-reply@127.0.0.1>' },
    demoIdp: true,
    // The load generators on this machine give each simulated browser its own X-Forwarded-For.
    trustProxy: ['loopback'],
    loginRateLimits: { loginPerIpAndEmail: 10_000_000, loginPerIp: 10_000_000, signupPerIp: 10_000_000, forgotPerIp: 10_000_000 },
  };
}

/**
 * Stops a bench server on SIGTERM/SIGINT (and, with `onStdinEnd`, when the parent that holds
 * its stdin goes away without a signal, so it never outlives the bench): connections closed,
 * then what `close` closes (a tenant, a database), then its data directory removed.
 */
export function stopWithParent(server: Server, options: { close?: () => unknown; dataDir?: string; onStdinEnd?: boolean } = {}): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close(() => {
      void Promise.resolve(options.close?.()).finally(() => {
        if (options.dataDir) rmSync(options.dataDir, { recursive: true, force: true });
        process.exit(0);
      });
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (options.onStdinEnd) {
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
}

/**
 * One target of issue 14 (performance relative to the floors of the packages Accord stands
 * on), as measured in this run: the figure, the floor it is compared with, the ratio by
 * throughput and, where both sides were measured, by CPU time per unit of work (less noisy on
 * a shared machine: other processes slow a server's throughput but hardly its CPU per request).
 * `pass` judges the throughput ratio (or the absolute figure where the target has no floor).
 */
export interface TargetRow {
  name: string;
  measured: string;
  floor: string;
  ratio?: number | undefined;
  cpuRatio?: number | undefined;
  target: string;
  pass: boolean;
}

const targetRows: TargetRow[] = [];

/** Records a target's row for printTargets (the benches call it as they measure). */
export function recordTarget(row: TargetRow): void {
  targetRows.push(row);
}

/** The rows recorded so far (bench/run.ts prints them at the end of a run). */
export function recordedTargets(): readonly TargetRow[] {
  return targetRows;
}

/** The targets as a Markdown table, PASS/FAIL beside each floor and ratio. */
export function printTargets(log: (line: string) => void): void {
  if (targetRows.length === 0) return;
  const ratio = (r: number | undefined) => (r === undefined || !Number.isFinite(r) ? '—' : r.toFixed(2));
  log('| Target | Measured | Floor in the same run | Ratio | Ratio by CPU | Target | Result |');
  log('|---|---|---|---|---|---|---|');
  for (const r of targetRows)
    log(`| ${r.name} | ${r.measured} | ${r.floor} | ${ratio(r.ratio)} | ${ratio(r.cpuRatio)} | ${r.target} | ${r.pass ? 'PASS' : 'FAIL'} |`);
}
