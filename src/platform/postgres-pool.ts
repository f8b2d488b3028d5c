import pg from 'pg';
import type { Logger } from './logger.ts';
import { OutageLog } from './outage-log.ts';

export interface PostgresTimeouts {
  /** Opening a connection, and waiting for a free one in the pool (DB_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** One statement, ended by PostgreSQL itself (DB_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS: PostgresTimeouts = { connectTimeoutMs: 5_000, statementTimeoutMs: 10_000 };

/**
 * How long after the statement timeout the client stops waiting for an answer on its own. The
 * server ends a slow statement itself and the connection stays usable; this only fires when
 * nothing comes back at all (a network that swallows packets), where waiting longer is useless.
 */
const QUERY_TIMEOUT_MARGIN_MS = 1_000;
const QUERY_READ_TIMEOUT = 'Query read timeout';

export interface PostgresPoolOptions {
  connectionString: string;
  /** search_path for every connection (tests isolate themselves in a schema). */
  schema?: string | undefined;
  timeouts?: Partial<PostgresTimeouts> | undefined;
  max?: number;
  logger?: Logger | undefined;
  /** The name in the outage log lines. */
  name?: string;
}

/**
 * A pg.Pool that never takes the process down and never waits without bound:
 * - a connection that breaks (PostgreSQL restarted, `pg_terminate_backend`, a network cut)
 *   emits 'error' on the pool or on the connection, which unhandled would end the process; it
 *   is logged (once per outage) and the pool opens a new connection on the next query;
 * - connecting, waiting for a free connection and every statement have a timeout;
 * - a connection whose answer never came is destroyed, not handed to the next query, which
 *   would queue behind the lost one.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const timeouts = { ...DEFAULT_POSTGRES_TIMEOUTS, ...options.timeouts };
  const outage = new OutageLog(options.logger, options.name ?? 'PostgreSQL');

  class BoundedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super(config);
      // pg-pool listens for errors only while a connection is idle in the pool. One checked out
      // (between the statements of a transaction, say) that PostgreSQL drops would emit 'error'
      // with no listener and end the process. The query under way fails on its own.
      this.on('error', (err) => outage.failed(err));
    }

    // The pool connects with a callback; failures (refused, timed out) are outages.
    override connect(callback?: any): any {
      if (!callback) return super.connect();
      super.connect((err: Error) => {
        if (err) outage.failed(err);
        callback(err);
      });
    }

    override query(...args: any[]): any {
      const result = (super.query as (...a: any[]) => any)(...args);
      if (result && typeof result.then === 'function') {
        (result as Promise<unknown>).then(
          () => outage.succeeded(),
          (err: unknown) => {
            if (err instanceof Error && err.message === QUERY_READ_TIMEOUT) {
              outage.failed(err);
              // The lost statement stays this connection's active one: nothing else would ever run on it.
              (this as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
            }
          },
        );
      }
      return result;
    }
  }

  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    Client: BoundedClient as unknown as typeof pg.Client,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    query_timeout: timeouts.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    // Broken connections are noticed by the kernel too, not only by the next query.
    keepAlive: true,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', (err) => outage.failed(err));
  pool.on('connect', () => outage.succeeded());
  return pool;
}
