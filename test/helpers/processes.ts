import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Environment for a child Accord process: nothing inherited that could point it elsewhere. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const {
    DATABASE_URL: _db,
    TENANT_URL: _url,
    TENANT_CONFIG: _cfg,
    APP_URL: _app,
    ISSUER_BASE_URL: _iss,
    AUTH0_DOMAIN: _a0,
    REDIS_URL: _redis,
    APP_DATABASE_URL: _appDb,
    SESSION_SECRET: _secret,
    ...rest
  } = process.env;
  return { ...rest, NODE_ENV: 'test', ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the `accord` command from source (`npm run accord`; bin/accord.js runs the build) to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** How to start Accord: from source (`npm run dev`) unless a test runs a build (`node dist/main.js`). */
export interface AccordEntry {
  cwd: string;
  argv: string[];
}
const FROM_SOURCE: AccordEntry = { cwd: ROOT, argv: ['--import', 'tsx', 'src/main.ts'] };

/** Starts Accord's entry point (with `args`, e.g. `['tenant']`) and resolves once it prints that it listens. */
export function startAccord(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  timeoutMs = 20_000,
  entry: AccordEntry = FROM_SOURCE,
): Promise<{ child: ChildProcess; output(): string; exited: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry.argv, ...args], { cwd: entry.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Accord did not start in ${timeoutMs / 1000} s:\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('accord listening')) {
        clearTimeout(timer);
        resolve({ child, output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Accord exited with ${code} before listening:\n${output}`));
    });
  });
}
