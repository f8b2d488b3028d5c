import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Database } from '../../platform/database.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';

/** Expired counters are deleted at most this often, by whichever limit counts next. */
const PRUNE_EVERY_MS = 60_000;

function databaseQueries(database: Database) {
  const { db } = database;
  return {
    // One statement, so two processes counting at once never lose a hit: a counter whose
    // window has ended starts again at 1.
    increment: prepareQuery(['key', 'now', 'resetsAt'], (p) => db.insertInto('rate_limit_hits')
      .values({ key: p.key, hits: 1, resets_at: p.resetsAt })
      .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({
        hits: eb.case().when('rate_limit_hits.resets_at', '<=', p.now).then(1).else(eb('rate_limit_hits.hits', '+', 1)).end(),
        resets_at: eb.case().when('rate_limit_hits.resets_at', '<=', p.now).then(p.resetsAt).else(eb.ref('rate_limit_hits.resets_at')).end(),
      })))
      .returning(['hits', 'resets_at'])),
    decrement: prepareQuery(['key', 'now'], (p) => db.updateTable('rate_limit_hits')
      .set((eb) => ({ hits: eb('hits', '-', 1) }))
      .where('key', '=', p.key).where('hits', '>', 0).where('resets_at', '>', p.now)),
    get: prepareQuery(['key', 'now'], (p) => db.selectFrom('rate_limit_hits').select(['hits', 'resets_at'])
      .where('key', '=', p.key).where('resets_at', '>', p.now)),
    reset: prepareQuery(['key'], (p) => db.deleteFrom('rate_limit_hits').where('key', '=', p.key)),
    prune: prepareQuery(['now'], (p) => db.deleteFrom('rate_limit_hits').where('resets_at', '<=', p.now)),
  };
}

/** A counter row as express-rate-limit reports it (PostgreSQL's bigint arrives as a string). */
function clientInfo(row: { hits: number | string; resets_at: number | string }): ClientRateLimitInfo {
  return { totalHits: Number(row.hits), resetTime: new Date(Number(row.resets_at)) };
}

/**
 * An express-rate-limit store in the tenant's database, for limits that every tenant process
 * must share (with N processes, counters in memory would allow N times the limit). Fixed
 * windows, as express-rate-limit's own memory store counts.
 */
export class DatabaseRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  #windowMs = 60_000;
  #pruneAt = 0;
  readonly #database: Database;
  readonly #queries: ReturnType<typeof databaseQueries>;

  /** `name` keeps each limit's counters apart. */
  constructor(database: Database, name: string) {
    this.#database = database;
    this.prefix = `${name}:`;
    this.#queries = databaseQueries(database);
  }

  init(options: Options): void {
    this.#windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const now = Date.now();
    this.#pruneNow(now);
    const result = await this.#database.write(this.#queries.increment({ key: this.prefix + key, now, resetsAt: now + this.#windowMs }));
    return clientInfo(result.rows[0]!);
  }

  async decrement(key: string): Promise<void> {
    await this.#database.write(this.#queries.decrement({ key: this.prefix + key, now: Date.now() }));
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const row = (await this.#database.reader.executeQuery(this.#queries.get({ key: this.prefix + key, now: Date.now() }))).rows[0];
    return row ? clientInfo(row) : undefined;
  }

  async resetKey(key: string): Promise<void> {
    await this.#database.write(this.#queries.reset({ key: this.prefix + key }));
  }

  /** Deletes ended windows (of every limit) in the background, at most once a minute per store. */
  #pruneNow(now: number): void {
    if (now < this.#pruneAt) return;
    this.#pruneAt = now + PRUNE_EVERY_MS;
    this.#database.write(this.#queries.prune({ now })).catch(() => { this.#pruneAt = 0; });
  }
}
