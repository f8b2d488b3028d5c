import { Router } from 'express';
import { sql } from 'kysely';
import type { Database } from './database.ts';

/** How long /readyz waits for its checks: a probe must answer well within a load balancer's interval. */
export const READY_CHECK_TIMEOUT_MS = 2_000;

/** Whether the process still takes new requests: false from the first shutdown signal on. */
export class Readiness {
  #draining = false;

  get draining(): boolean {
    return this.#draining;
  }

  drain(): void {
    this.#draining = true;
  }
}

/** A dependency the process needs to serve requests: resolves if it answers, rejects if not. */
export type ReadinessCheck = () => Promise<unknown>;

/** A database check: one trivial statement, bounded by the database's own timeouts. */
export function databaseAnswers<S>(database: Database<S>): ReadinessCheck {
  return () => sql`select 1`.execute(database.db);
}

function within(check: ReadinessCheck, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    check(),
    new Promise((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * `/healthz`: the process is alive (it answers; nothing else is checked, so a supervisor does
 * not restart it for a dependency's outage). `/readyz`: it should get new requests: it is not
 * shutting down and every dependency answers now. A load balancer sends requests only to
 * processes whose /readyz is 200. The answers name each check, never an address or an error.
 */
export function healthRoutes(options: { readiness: Readiness; checks: Record<string, ReadinessCheck>; timeoutMs?: number }): Router {
  const timeoutMs = options.timeoutMs ?? READY_CHECK_TIMEOUT_MS;
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    res.set('Cache-Control', 'no-store');
    if (options.readiness.draining) {
      res.status(503).json({ status: 'draining' });
      return;
    }
    const names = Object.keys(options.checks);
    const results = await Promise.all(
      names.map((name) =>
        within(options.checks[name]!, timeoutMs).then(
          () => 'ok',
          () => 'unavailable',
        ),
      ),
    );
    const ready = results.every((result) => result === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: Object.fromEntries(names.map((name, i) => [name, results[i]])) });
  });
  return router;
}
