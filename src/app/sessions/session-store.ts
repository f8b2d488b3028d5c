import { Store, type SessionData } from 'express-session';
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { PeriodicTask } from '../../platform/periodic-task.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';
import type { Logger } from '../../platform/logger.ts';
import type { AppSchema } from '../app-database.ts';
import { revocationKey, sessionOwner, type SessionOwner, type SessionRevoker, type SessionSelector } from './session-owner.ts';
import { TouchThrottle } from './touch-throttle.ts';

export const DEFAULT_SESSION_TTL_MS = 24 * 60 * 60 * 1000;

export interface KyselySessionStoreOptions {
  db: Kysely<AppSchema>;
  /** Lifetime of a session whose cookie has neither `expires` nor `maxAge`; 1 day by default. */
  defaultTtlMs?: number;
  /**
   * How long a revocation (back-channel logout) is remembered: as long as a session written
   * back by a request under way could live, i.e. the sessions' lifetime. Default `defaultTtlMs`.
   */
  revocationTtlMs?: number;
  /** When set, expired rows are deleted on this interval (the timer does not keep the process alive). */
  pruneIntervalMs?: number;
  logger?: Logger;
}

type Callback<T> = (err: unknown, value?: T) => void;
type SessionRow = { sess: string; expires_at: number | string };

/**
 * express-session's store on the app's own database (SQLite or PostgreSQL, through Kysely).
 * Expired rows are never returned; `prune()` (or the optional timer) deletes them.
 *
 * Each row records its owner (user, tenant session, sign-in time) for back-channel logout.
 * `endSessions` records the revocation and deletes the owner's rows. A request that read its
 * session before the deletion and saves it afterwards does not bring it back: a save of a
 * session signed in before a revocation is refused, and (should a save race the deletion) a row
 * signed in before one is never returned.
 */
export class KyselySessionStore extends Store implements SessionRevoker {
  readonly #db: Kysely<AppSchema>;
  readonly #defaultTtlMs: number;
  readonly #revocationTtlMs: number;
  readonly #logger: Logger | undefined;
  readonly #pruning: PeriodicTask | undefined;
  readonly #touches = new TouchThrottle();
  /** The read of every request, compiled once: Kysely would build and compile it again each time. */
  readonly #readQuery: (values: { sid: string }) => CompiledQuery<SessionRow>;

  constructor(options: KyselySessionStoreOptions) {
    super();
    this.#db = options.db;
    this.#readQuery = prepareQuery(['sid'], (p) =>
      this.#db
        .selectFrom('app_sessions')
        .select(['sess', 'expires_at'])
        .where('sid', '=', p.sid)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('app_session_revocations')
                .select('app_session_revocations.key')
                .where('app_session_revocations.key', 'in', [
                  sql<string>`'user:' || ${sql.ref('app_sessions.user_id')}`,
                  sql<string>`'sid:' || ${sql.ref('app_sessions.tenant_sid')}`,
                ])
                .where('app_session_revocations.revoked_at', '>=', sql<number>`coalesce(${sql.ref('app_sessions.signed_in_at')}, 0)`),
            ),
          ),
        ),
    );
    this.#defaultTtlMs = options.defaultTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#revocationTtlMs = options.revocationTtlMs ?? this.#defaultTtlMs;
    this.#logger = options.logger;
    if (options.pruneIntervalMs && options.pruneIntervalMs > 0) {
      this.#pruning = new PeriodicTask(() => this.#prunePeriodically(), options.pruneIntervalMs);
      this.#pruning.start();
    }
  }

  override get(sid: string, callback: (err: unknown, session?: SessionData | null) => void): void {
    this.#settle(this.#get(sid), callback);
  }

  override set(sid: string, session: SessionData, callback?: (err?: unknown) => void): void {
    this.#settle(this.#set(sid, session), callback);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.#touches.remember(sid, undefined);
    this.#settle(
      this.#db
        .deleteFrom('app_sessions')
        .where('sid', '=', sid)
        .execute()
        .then(() => undefined),
      callback,
    );
  }

  override touch(sid: string, session: SessionData, callback?: (err?: unknown) => void): void {
    const expiresAt = this.#expiresAt(session);
    if (this.#touches.skips(sid, expiresAt)) {
      callback?.();
      return;
    }
    // Only a live session is extended: touching must not bring back one that already expired.
    const work = this.#db
      .updateTable('app_sessions')
      .set({ expires_at: expiresAt })
      .where('sid', '=', sid)
      .where('expires_at', '>', Date.now())
      .execute()
      .then(() => {
        this.#touches.remember(sid, expiresAt);
      });
    this.#settle(work, callback);
  }

  override clear(callback?: (err?: unknown) => void): void {
    this.#touches.clear();
    this.#settle(
      this.#db
        .deleteFrom('app_sessions')
        .execute()
        .then(() => undefined),
      callback,
    );
  }

  override length(callback: (err: unknown, length?: number) => void): void {
    const work = this.#db
      .selectFrom('app_sessions')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('expires_at', '>', Date.now())
      .executeTakeFirstOrThrow()
      .then((row) => Number(row.n));
    this.#settle(work, callback);
  }

  override all(callback: (err: unknown, sessions?: { [sid: string]: SessionData } | null) => void): void {
    const work = this.#db
      .selectFrom('app_sessions')
      .select(['sid', 'sess'])
      .where('expires_at', '>', Date.now())
      .execute()
      .then((rows) => {
        const sessions: { [sid: string]: SessionData } = {};
        for (const row of rows) {
          const session = parseSession(row.sess);
          if (session) sessions[row.sid] = session;
        }
        return sessions;
      });
    this.#settle(work, callback);
  }

  async endSessions(selector: SessionSelector): Promise<number> {
    const now = Date.now();
    // The revocation first: a session saved between the two statements is then refused, or never read.
    await this.#db
      .insertInto('app_session_revocations')
      .values({ key: revocationKey(selector), revoked_at: now, expires_at: now + this.#revocationTtlMs })
      .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ revoked_at: eb.ref('excluded.revoked_at'), expires_at: eb.ref('excluded.expires_at') })))
      .execute();
    const ended = await ('tenantSid' in selector
      ? this.#db.deleteFrom('app_sessions').where('tenant_sid', '=', selector.tenantSid)
      : this.#db.deleteFrom('app_sessions').where('user_id', '=', selector.userId)
    )
      .returning('sid')
      .execute();
    for (const { sid } of ended) this.#touches.remember(sid, undefined);
    return ended.length;
  }

  /** Deletes expired sessions (and revocations); returns how many sessions. */
  async prune(): Promise<number> {
    const now = Date.now();
    const result = await this.#db.deleteFrom('app_sessions').where('expires_at', '<=', now).executeTakeFirst();
    await this.#db.deleteFrom('app_session_revocations').where('expires_at', '<=', now).execute();
    return Number(result.numDeletedRows);
  }

  /** Stops the prune timer and waits for a prune under way; the database is the caller's to close. */
  async close(): Promise<void> {
    await this.#pruning?.stop();
  }

  async #get(sid: string): Promise<SessionData | null> {
    const row = (await this.#db.executeQuery(this.#readQuery({ sid }))).rows[0];
    if (!row) return null;
    const expired = Number(row.expires_at) <= Date.now();
    const session = expired ? undefined : parseSession(row.sess);
    if (session) {
      this.#touches.remember(sid, Number(row.expires_at));
      return session;
    }
    if (!expired) this.#logger?.warn({ event: 'session_unreadable' }, 'discarding a session row that is not valid JSON');
    // An expired or unreadable row is a missing session: the user gets a fresh one rather
    // than an error on every request until the cookie expires. Matching the row as read
    // keeps a concurrent set() of the same sid from being deleted.
    await this.#db.deleteFrom('app_sessions').where('sid', '=', sid).where('expires_at', '=', Number(row.expires_at)).where('sess', '=', row.sess).execute();
    return null;
  }

  async #set(sid: string, session: SessionData): Promise<void> {
    const expiresAt = this.#expiresAt(session);
    if (expiresAt <= Date.now()) {
      await this.#db.deleteFrom('app_sessions').where('sid', '=', sid).execute();
      return;
    }
    const owner = sessionOwner(session);
    if (await this.#endedAfterSignIn(owner)) {
      // A request that read the session before its owner's sessions were ended saves it now.
      await this.#db.deleteFrom('app_sessions').where('sid', '=', sid).execute();
      this.#touches.remember(sid, undefined);
      return;
    }
    await this.#db
      .insertInto('app_sessions')
      .values({
        sid,
        sess: JSON.stringify(session),
        expires_at: expiresAt,
        user_id: owner.userId ?? null,
        tenant_sid: owner.tenantSid ?? null,
        signed_in_at: owner.signedInAt ?? null,
      })
      .onConflict((oc) =>
        oc.column('sid').doUpdateSet((eb) => ({
          sess: eb.ref('excluded.sess'),
          expires_at: eb.ref('excluded.expires_at'),
          user_id: eb.ref('excluded.user_id'),
          tenant_sid: eb.ref('excluded.tenant_sid'),
          signed_in_at: eb.ref('excluded.signed_in_at'),
        })),
      )
      .execute();
    this.#touches.remember(sid, expiresAt);
  }

  /** Whether the tenant ended the sessions of this owner after it signed in here. */
  async #endedAfterSignIn(owner: SessionOwner): Promise<boolean> {
    const keys = [
      ...(owner.userId ? [revocationKey({ userId: owner.userId })] : []),
      ...(owner.tenantSid ? [revocationKey({ tenantSid: owner.tenantSid })] : []),
    ];
    if (keys.length === 0) return false;
    const revoked = await this.#db
      .selectFrom('app_session_revocations')
      .select('key')
      .where('key', 'in', keys)
      .where('revoked_at', '>=', owner.signedInAt ?? 0)
      .executeTakeFirst();
    return revoked !== undefined;
  }

  #expiresAt(session: SessionData): number {
    const cookie = session.cookie as { expires?: Date | string | null; maxAge?: number | null } | undefined;
    // After a JSON round trip `expires` is a string; a session cookie (no expiry) has null.
    if (cookie?.expires) {
      const at = new Date(cookie.expires).getTime();
      if (Number.isFinite(at)) return at;
    }
    if (typeof cookie?.maxAge === 'number' && Number.isFinite(cookie.maxAge)) return Date.now() + cookie.maxAge;
    return Date.now() + this.#defaultTtlMs;
  }

  async #prunePeriodically(): Promise<void> {
    try {
      const deleted = await this.prune();
      if (deleted > 0) this.#logger?.debug({ event: 'sessions_pruned', deleted }, 'expired sessions deleted');
    } catch (err) {
      this.#logger?.warn({ event: 'sessions_prune_failed', err }, 'could not prune expired sessions');
    }
  }

  /**
   * Hands the outcome to express-session's callback on a later tick, outside the promise chain:
   * a callback that throws is then an ordinary uncaught exception, not a rejection that would
   * call it a second time with its own error.
   */
  #settle<T>(work: Promise<T>, callback: Callback<T> | undefined): void {
    work.then(
      (value) => {
        if (callback) process.nextTick(callback, null, value);
      },
      (err: unknown) => {
        if (callback) process.nextTick(callback, err);
        else this.#logger?.warn({ event: 'session_store_failed', err }, 'session store operation failed');
      },
    );
  }
}

function parseSession(text: string): SessionData | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as SessionData) : undefined;
  } catch {
    return undefined;
  }
}
