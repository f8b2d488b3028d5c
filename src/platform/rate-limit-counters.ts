import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import { prepareQuery } from './prepared-query.ts';

/** A table of shared rate-limit counters (each half has one): one counter per limit and key. */
export interface RateLimitHitsTable {
  /** The limit's name, then the client's key (`login-ip:203.0.113.0/56`). */
  key: string;
  hits: number;
  /** When the window ends and the count starts again (epoch ms). */
  resets_at: number;
}

/** A counter's state after a change: its hits in the current window, and when that window ends. */
export interface WindowCount {
  hits: number;
  resetsAt: number;
}

/** Expired counters are deleted at most this often, by whichever counter counts next. */
const PRUNE_EVERY_MS = 60_000;

function counterQueries(db: Kysely<Record<string, RateLimitHitsTable>>, table: string) {
  const hits = `${table}.hits` as const;
  const resetsAt = `${table}.resets_at` as const;
  return {
    // One statement, so two processes counting at once never lose a hit: a counter whose
    // window has ended starts again from what is added now.
    add: prepareQuery(['key', 'hits', 'now', 'resetsAt'], (p) =>
      db
        .insertInto(table)
        .values({ key: p.key, hits: p.hits, resets_at: p.resetsAt })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => ({
            hits: eb
              .case()
              .when(resetsAt, '<=', p.now)
              .then(p.hits)
              .else(eb(hits, '+', p.hits))
              .end(),
            resets_at: eb.case().when(resetsAt, '<=', p.now).then(p.resetsAt).else(eb.ref(resetsAt)).end(),
          })),
        )
        .returning(['hits', 'resets_at']),
    ),
    decrement: prepareQuery(['key', 'now'], (p) =>
      db
        .updateTable(table)
        .set((eb) => ({ hits: eb('hits', '-', 1) }))
        .where('key', '=', p.key)
        .where('hits', '>', 0)
        .where('resets_at', '>', p.now),
    ),
    get: prepareQuery(['key', 'now'], (p) => db.selectFrom(table).select(['hits', 'resets_at']).where('key', '=', p.key).where('resets_at', '>', p.now)),
    reset: prepareQuery(['key'], (p) => db.deleteFrom(table).where('key', '=', p.key)),
    prune: prepareQuery(['now'], (p) => db.deleteFrom(table).where('resets_at', '<=', p.now)),
  };
}

function windowCount(row: { hits: number | string; resets_at: number | string }): WindowCount {
  return { hits: Number(row.hits), resetsAt: Number(row.resets_at) };
}

/**
 * Fixed-window counters in a table of a database, shared by every process that opens it (with
 * N processes, counters in memory would allow N times a limit). Each counter is one row, changed
 * in one statement. Both halves use it, each with a table of its own (the tenant's
 * `rate_limit_hits`, the app's `app_rate_limit_hits`).
 */
export class RateLimitCounters {
  #pruneAt = 0;
  readonly #database: Database<any>;
  readonly #queries: ReturnType<typeof counterQueries>;

  constructor(database: Database<any>, table: string) {
    this.#database = database;
    this.#queries = counterQueries(database.db as Kysely<Record<string, RateLimitHitsTable>>, table);
  }

  /** Adds `hits` to `key` (a window of `windowMs` starts if none is running); the count after it. */
  async add(key: string, hits: number, windowMs: number): Promise<WindowCount> {
    const now = Date.now();
    this.#pruneNow(now);
    const result = await this.#database.write(this.#queries.add({ key, hits, now, resetsAt: now + windowMs }));
    return windowCount(result.rows[0]!);
  }

  async decrement(key: string): Promise<void> {
    await this.#database.write(this.#queries.decrement({ key, now: Date.now() }));
  }

  async get(key: string): Promise<WindowCount | undefined> {
    const row = (await this.#database.reader.executeQuery(this.#queries.get({ key, now: Date.now() }))).rows[0];
    return row ? windowCount(row) : undefined;
  }

  async reset(key: string): Promise<void> {
    await this.#database.write(this.#queries.reset({ key }));
  }

  /** Deletes ended windows (of every limit) in the background, at most once a minute per instance. */
  #pruneNow(now: number): void {
    if (now < this.#pruneAt) return;
    this.#pruneAt = now + PRUNE_EVERY_MS;
    this.#database.write(this.#queries.prune({ now })).catch(() => {
      this.#pruneAt = 0;
    });
  }
}

function clientInfo(count: WindowCount): ClientRateLimitInfo {
  return { totalHits: count.hits, resetTime: new Date(count.resetsAt) };
}

/**
 * An express-rate-limit store over RateLimitCounters, for limits that every process must
 * share. Fixed windows, as express-rate-limit's own memory store counts.
 */
export class DatabaseRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  #windowMs = 60_000;
  readonly #counters: RateLimitCounters;

  /** `name` keeps each limit's counters apart. */
  constructor(counters: RateLimitCounters, name: string) {
    this.#counters = counters;
    this.prefix = `${name}:`;
  }

  init(options: Options): void {
    this.#windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    return clientInfo(await this.#counters.add(this.prefix + key, 1, this.#windowMs));
  }

  async decrement(key: string): Promise<void> {
    await this.#counters.decrement(this.prefix + key);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const count = await this.#counters.get(this.prefix + key);
    return count ? clientInfo(count) : undefined;
  }

  async resetKey(key: string): Promise<void> {
    await this.#counters.reset(this.prefix + key);
  }
}
