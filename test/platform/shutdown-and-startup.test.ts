/**
 * The process as a supervisor sees it: SIGTERM under keep-alive load drains (every request
 * answered, no connection reset, exit 0); a failed start (a port in use, an unreachable
 * database) is a non-zero exit with the reason, never a process that looks healthy.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DrainableServer } from '../../src/platform/http-drain.ts';
import { childEnv, freePort, startAccord } from '../helpers/processes.ts';

/** One GET on `agent`'s connection: its status and whether the server asked to close the connection. */
function get(agent: Agent, port: number, path: string): Promise<{ status: number; close: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, close: res.headers.connection === 'close' }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('shutdown and start-up of a process', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'accord-shutdown-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('SIGTERM under keep-alive load: readiness turns false, every request is answered, no connection reset, exit 0', async () => {
    const port = await freePort();
    const accord = await startAccord(childEnv({ DATA_DIR: dir, TENANT_PORT: String(port), TENANT_URL: `http://127.0.0.1:${port}` }), ['tenant'], 60_000);
    try {
      const agents = Array.from({ length: 8 }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
      const errors: unknown[] = [];
      const statuses: number[] = [];
      let signalled = false;
      let draining = false;
      // Each client sends its requests on one connection, one after the other, until the server
      // asks it to close the connection: a load balancer then sends elsewhere.
      const clients = agents.map(async (agent, i) => {
        for (;;) {
          let answer: { status: number; close: boolean };
          try {
            answer = await get(agent, port, i === 0 && signalled ? '/readyz' : '/.well-known/openid-configuration');
          } catch (err) {
            errors.push(err);
            return;
          }
          statuses.push(answer.status);
          // The signal arrives when it arrives: readiness is false from then on, before any Connection: close.
          if (i === 0 && signalled) draining = answer.status === 503;
          if (answer.close) return;
        }
      });
      while (statuses.length < 200) await new Promise((r) => setTimeout(r, 10));
      accord.child.kill('SIGTERM');
      signalled = true;
      await Promise.all(clients);
      for (const agent of agents) agent.destroy();

      assert.deepEqual(errors, [], 'no request failed: no reset, no refused connection');
      assert.ok(
        statuses.every((s) => s === 200 || s === 503),
        `answers: ${[...new Set(statuses)].join(', ')}`,
      );
      assert.ok(draining, '/readyz said draining after the signal, up to the last answer');
      assert.equal(await accord.exited, 0, accord.output());
      assert.match(accord.output(), /"msg":"stopped"/);
    } finally {
      accord.child.kill('SIGKILL');
    }
  });

  it('a port already in use: a non-zero exit, saying so, before the database is even asked', async () => {
    const taken: Server = createServer();
    const port = await new Promise<number>((resolve) => taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)));
    // A database that accepts connections and never answers, with a connect timeout of ten
    // minutes: a start that opened it before taking its port would wait that long.
    const silent: Server = createServer((socket) => socket.on('error', () => {}));
    const silentPort = await new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)));
    try {
      await assert.rejects(
        startAccord(
          childEnv({
            DATA_DIR: dir,
            TENANT_PORT: String(port),
            TENANT_URL: `http://127.0.0.1:${port}`,
            DATABASE_URL: `postgres://postgres@127.0.0.1:${silentPort}/accord`,
            DB_CONNECT_TIMEOUT_MS: '600000',
          }),
          ['tenant'],
          20_000,
        ),
        (err: Error) => {
          assert.match(err.message, /exited with 1 before listening/);
          assert.match(err.message, /accord: failed to start: the tenant's port \d+ on 127\.0\.0\.1 is already in use/);
          return true;
        },
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      silent.close();
    }
  });

  it('a port taken before its half has started answers 503 with Retry-After, then the half once it serves', async () => {
    const server = new DrainableServer();
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    try {
      const starting = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(starting.status, 503);
      assert.equal(starting.headers.get('retry-after'), '1');
      assert.equal(await starting.text(), 'Starting: try again in a moment.\n');
      server.serve((_req, res) => res.end('served'));
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/readyz`)).text(), 'served');
    } finally {
      await server.drain();
    }
  });

  it('a database that cannot be reached: a non-zero exit saying what to check', async () => {
    const port = await freePort();
    await assert.rejects(
      startAccord(
        childEnv({ DATA_DIR: dir, TENANT_PORT: String(port), TENANT_URL: `http://127.0.0.1:${port}`, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/accord' }),
        ['tenant'],
        20_000,
      ),
      (err: Error) => {
        assert.match(err.message, /exited with 1 before listening/);
        assert.match(err.message, /accord: failed to start: the database could not be reached \(connect ECONNREFUSED 127\.0\.0\.1:1\)\. Check DATABASE_URL/);
        return true;
      },
    );
  });
});
