import type { Kysely } from 'kysely';
import type { Logger } from '../../platform/logger.ts';
import { PeriodicTask } from '../../platform/periodic-task.ts';
import type { AppSchema } from '../app-database.ts';
import type { ScriptingClient } from './redis-session-store.ts';

/**
 * "Only once": the first caller to claim a key gets true, every other caller false until the
 * claim expires, across every app process. Kept where the sessions are (the app database or
 * Redis). Used for a link proof (one confirm acts) and a logout token's `jti` (no replay).
 */
export interface OnceClaims {
  claim(key: string, ttlSeconds: number): Promise<boolean>;
  /** Gives a claim back, so the work it guarded may be tried again (it failed before acting). */
  release(key: string): Promise<void>;
}

/** Claims as rows of `app_claims`: one insert decides, whatever the number of processes. */
export class SqlOnceClaims implements OnceClaims {
  readonly #db: Kysely<AppSchema>;
  readonly #logger: Logger | undefined;
  readonly #pruning: PeriodicTask | undefined;

  constructor(options: { db: Kysely<AppSchema>; pruneIntervalMs?: number; logger?: Logger }) {
    this.#db = options.db;
    this.#logger = options.logger;
    if (options.pruneIntervalMs && options.pruneIntervalMs > 0) {
      this.#pruning = new PeriodicTask(
        () =>
          this.prune().then(
            () => {},
            (err: unknown) => this.#logger?.warn({ event: 'claims_prune_failed', err }, 'could not prune expired claims'),
          ),
        options.pruneIntervalMs,
      );
      this.#pruning.start();
    }
  }

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const now = Date.now();
    // A new key is inserted; an expired one is taken over; a live one is left alone (no row).
    const result = await this.#db
      .insertInto('app_claims')
      .values({ key, expires_at: now + ttlSeconds * 1000 })
      .onConflict((oc) =>
        oc
          .column('key')
          .doUpdateSet((eb) => ({ expires_at: eb.ref('excluded.expires_at') }))
          .where('app_claims.expires_at', '<=', now),
      )
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async release(key: string): Promise<void> {
    await this.#db.deleteFrom('app_claims').where('key', '=', key).execute();
  }

  /** Deletes expired claims; returns how many. */
  async prune(): Promise<number> {
    const result = await this.#db.deleteFrom('app_claims').where('expires_at', '<=', Date.now()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Stops the prune timer and waits for a prune under way. */
  async close(): Promise<void> {
    await this.#pruning?.stop();
  }
}

/** Claims as Redis keys: `SET NX PX` decides, and the key expires by itself. */
export class RedisOnceClaims implements OnceClaims {
  constructor(
    private readonly client: ScriptingClient & {
      set(key: string, value: string, options: { condition: 'NX'; expiration: { type: 'PX'; value: number } }): Promise<string | null>;
      del(key: string): Promise<number>;
    },
    private readonly keyPrefix: string,
  ) {}

  async claim(key: string, ttlSeconds: number): Promise<boolean> {
    const answer = await this.client.set(`${this.keyPrefix}claim:${key}`, '1', {
      condition: 'NX',
      expiration: { type: 'PX', value: Math.max(1, Math.round(ttlSeconds * 1000)) },
    });
    return answer === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.client.del(`${this.keyPrefix}claim:${key}`);
  }
}
