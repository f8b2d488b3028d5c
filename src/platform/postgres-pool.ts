import pg from 'pg';
import type { Logger } from './logger.ts';
import { OutageLog } from './outage-log.ts';
import { statementNameOf } from './prepared-query.ts';

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

/** A statement or a connection attempt without an answer for this long is looked into (see StallWatch). */
const STALLED_AFTER_MS = 1_000;
/** How often stalled connections are looked for, and the bound of the look itself. */
const STALL_CHECK_EVERY_MS = 250;
const STALL_PROBE_TIMEOUT_MS = 500;
/** How much earlier than ours a statement of the same text must have begun to be another one. */
const SAME_TEXT_MARGIN_MS = 250;

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
 *   would queue behind the lost one;
 * - connections left silent by an outage are ended as soon as PostgreSQL answers again (see
 *   StallWatch), so that they do not hold the pool until their timeouts.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const timeouts = { ...DEFAULT_POSTGRES_TIMEOUTS, ...options.timeouts };
  const outage = new OutageLog(options.logger, options.name ?? 'PostgreSQL');
  const watch = new StallWatch();

  class BoundedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super(config);
      this.once('end', () => watch.answered(this));
      // pg-pool listens for errors only while a connection is idle in the pool. One checked out
      // (between the statements of a transaction, say) that PostgreSQL drops would emit 'error'
      // with no listener and end the process. The query under way fails on its own.
      this.on('error', (err) => outage.failed(err));
    }

    // The pool connects with a callback; failures (refused, timed out) are outages.
    override connect(callback?: any): any {
      if (!callback) return super.connect();
      watch.waiting(this);
      super.connect((err: Error) => {
        watch.answered(this);
        if (err) outage.failed(err);
        callback(err);
      });
    }

    // A method, not a function declared per query: under tsx each named one costs a defineProperty.
    #settled(err: unknown): void {
      watch.answered(this);
      if (!err) {
        outage.succeeded();
        return;
      }
      if (err instanceof Error && err.message === QUERY_READ_TIMEOUT) {
        outage.failed(err);
        // The lost statement stays this connection's active one: nothing else would ever run on it.
        (this as WatchedClient).connection?.stream?.destroy();
      }
    }

    override query(...args: any[]): any {
      // Kysely sends (sql, values): a statement kept prepared goes by its name.
      const name = typeof args[0] === 'string' ? statementNameOf(args[0]) : undefined;
      if (name !== undefined && Array.isArray(args[1])) args.splice(0, 2, { name, text: args[0], values: args[1] });
      const last = args.length - 1;
      // pg-pool's pool.query() passes a callback; Kysely awaits the promise.
      if (typeof args[last] === 'function') {
        const callback = args[last] as (err: unknown, ...rest: unknown[]) => void;
        args[last] = (err: unknown, ...rest: unknown[]) => {
          this.#settled(err);
          callback(err, ...rest);
        };
      }
      watch.waiting(this, textOf(args[0]));
      let result: unknown;
      try {
        result = (super.query as (...a: any[]) => any)(...args);
      } catch (err) {
        watch.answered(this);
        throw err;
      }
      if (result && typeof (result as Promise<unknown>).then === 'function')
        (result as Promise<unknown>).then(
          () => this.#settled(undefined),
          (err: unknown) => this.#settled(err),
        );
      return result;
    }
  }

  const connection: pg.ClientConfig = {
    connectionString: options.connectionString,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  };
  const pool = new pg.Pool({
    ...connection,
    max: options.max ?? 10,
    Client: BoundedClient as unknown as typeof pg.Client,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    query_timeout: timeouts.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    // Broken connections are noticed by the kernel too, not only by the next query.
    keepAlive: true,
  });
  pool.on('error', (err) => outage.failed(err));
  pool.on('connect', () => outage.succeeded());
  watch.start(connection, timeouts, () => pool.ending);
  return pool;
}

/** The SQL of a query() call: a string, or a config object's `text`. */
function textOf(query: unknown): string | undefined {
  if (typeof query === 'string') return query;
  const text = (query as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : undefined;
}

export type WatchedClient = pg.Client & { processID?: number | null; connection?: { stream?: { destroy(): void } } };

/**
 * Ends the pool's connections that an outage left without an answer, once PostgreSQL answers
 * again. A connection whose bytes a network swallowed (a partition, a proxy that dropped them)
 * waits for an answer that will never come until its own timeout, the statement timeout or the
 * connect timeout, seconds after PostgreSQL is back; meanwhile it holds its place in the pool
 * and requests queue behind it. So, while a statement or a connection attempt has waited more
 * than STALLED_AFTER_MS, a fresh connection asks PostgreSQL what the waiting connections'
 * backends are doing. An attempt still connecting is ended. A statement is ended only when
 * PostgreSQL never got it: its backend is not running one, and the last one it began is
 * another text, or began before ours was sent. A backend still running a statement (a slow
 * query, a lock wait), one that already answered (the answer is on its way), or one PostgreSQL
 * does not list (behind a pooler such as PgBouncer the process ids are not PostgreSQL's) is
 * left to the timeouts. An ended statement fails (a 503, as during the outage) and the pool
 * opens a new connection. Nothing is asked while nothing waits.
 */
export class StallWatch {
  /** When each client began waiting for an answer (connecting, or a statement), and the statement's text. */
  readonly #since = new Map<WatchedClient, Waiting>();
  #probing = false;

  constructor(
    private readonly lookUp: ActivityLookUp = activityOnFreshConnection,
    private readonly now: () => number = () => performance.now(),
  ) {}

  waiting(client: WatchedClient, text?: string): void {
    if (!this.#since.has(client)) this.#since.set(client, { at: this.now(), text });
  }

  answered(client: WatchedClient): void {
    this.#since.delete(client);
  }

  start(config: pg.ClientConfig, timeouts: PostgresTimeouts, ended: () => boolean): void {
    const timer = setInterval(() => {
      if (ended()) return void clearInterval(timer);
      void this.check(config, timeouts);
    }, STALL_CHECK_EVERY_MS);
    timer.unref();
  }

  /** One look: asks PostgreSQL about the connections that have waited too long, if any and if no look is under way. */
  async check(config: pg.ClientConfig, timeouts: PostgresTimeouts): Promise<void> {
    if (this.#probing) return;
    const now = this.now();
    const stalled = [...this.#since].filter(([, waiting]) => now - waiting.at > STALLED_AFTER_MS);
    if (stalled.length === 0) return;
    this.#probing = true;
    try {
      await this.#probe(config, timeouts, stalled);
    } finally {
      this.#probing = false;
    }
  }

  async #probe(config: pg.ClientConfig, timeouts: PostgresTimeouts, stalled: Array<[WatchedClient, Waiting]>): Promise<void> {
    const pids = stalled.map(([client]) => client.processID).filter((pid): pid is number => typeof pid === 'number');
    const activity = await this.lookUp(config, Math.min(timeouts.connectTimeoutMs, STALL_PROBE_TIMEOUT_MS), pids, this.now);
    // PostgreSQL still does not answer: the connections' own timeouts end them.
    if (!activity) return;
    const backends = new Map(activity.rows.map((row) => [row.pid, row]));
    for (const [client, waiting] of stalled) {
      // Answered meanwhile; and if the client now waits again, it is on a later statement than
      // the one the look was about, which the backend's state does not describe.
      if (this.#since.get(client) !== waiting) continue;
      const pid = client.processID;
      // No process id yet: still connecting, while a fresh connection just succeeded.
      if (typeof pid !== 'number') {
        client.connection?.stream?.destroy();
        continue;
      }
      const backend = backends.get(pid);
      if (!backend || backend.state === 'active') continue;
      // The backend is not running a statement. If the last one it started is not ours, ours
      // never reached it. If it is the same text, ours reached it unless that statement began
      // before ours was sent (a previous one of the same text); answered ones are in flight.
      const sameText = waiting.text !== undefined && backend.query.length > 0 && waiting.text.startsWith(backend.query);
      const startedBeforeOurs = Number(backend.since_ms) > activity.asked - waiting.at + SAME_TEXT_MARGIN_MS;
      if (!sameText || startedBeforeOurs) client.connection?.stream?.destroy();
    }
  }
}

interface Waiting {
  at: number;
  text: string | undefined;
}

/** A backend as pg_stat_activity shows it: its state, the last statement it began and how long ago. */
export interface BackendActivity {
  pid: number;
  state: string | null;
  query: string;
  since_ms: number | string;
}

/**
 * What PostgreSQL says of the backends `pids`, asked within `boundMs`, and when it was asked (by
 * `now`); undefined when it does not answer.
 */
export type ActivityLookUp = (
  config: pg.ClientConfig,
  boundMs: number,
  pids: number[],
  now: () => number,
) => Promise<{ asked: number; rows: BackendActivity[] } | undefined>;

async function activityOnFreshConnection(config: pg.ClientConfig, boundMs: number, pids: number[], now: () => number) {
  const probe = new pg.Client({ ...config, connectionTimeoutMillis: boundMs, query_timeout: boundMs, statement_timeout: boundMs });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const asked = now();
    const { rows } = await probe.query<BackendActivity>(
      'select pid, state, query, extract(epoch from clock_timestamp() - query_start) * 1000 as since_ms from pg_stat_activity where pid = any($1::int[])',
      [pids],
    );
    return { asked, rows };
  } catch {
    return undefined;
  } finally {
    // Not end(): on a connection that gets no answer it would wait, and the next look with it.
    (probe as WatchedClient).connection?.stream?.destroy();
  }
}
