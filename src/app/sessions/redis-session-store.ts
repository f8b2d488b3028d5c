import { RedisStore } from 'connect-redis';
import type { SessionData } from 'express-session';
import { DEFAULT_SESSION_TTL_MS } from './session-store.ts';
import { TouchThrottle } from './touch-throttle.ts';

type Callback = (err?: unknown, data?: unknown) => unknown;

/** Seconds a session has left: until its cookie expires, else the default lifetime (as connect-redis counts). */
function ttlSeconds(session: SessionData): number {
  const expires = (session.cookie as { expires?: Date | string | null } | undefined)?.expires;
  return expires ? Math.ceil((new Date(expires).getTime() - Date.now()) / 1000) : DEFAULT_SESSION_TTL_MS / 1000;
}

/** connect-redis's answer to a call without a callback: the value, or the error thrown. */
function settle(err: unknown, data: unknown, cb: Callback | undefined): unknown {
  if (cb) return cb(err, data);
  if (err) throw err;
  return data;
}

/**
 * Sessions in Redis (connect-redis), touched at most once a minute per session (see
 * TouchThrottle): connect-redis sends an EXPIRE on every request of a rolling session, and
 * express-session holds back the last byte of the page until Redis has answered it.
 */
export class ThrottledRedisStore extends RedisStore {
  readonly #touches = new TouchThrottle();

  constructor(options: { client: unknown; prefix: string }) {
    super({ ...options, ttl: ttlSeconds });
  }

  override async set(sid: string, session: SessionData, cb?: Callback): Promise<unknown> {
    const ttl = ttlSeconds(session);
    const expiresAt = Date.now() + ttl * 1000;
    return super.set(sid, session, (err, data) => {
      this.#touches.remember(sid, !err && ttl > 0 ? expiresAt : undefined);
      return settle(err, data, cb);
    });
  }

  override async touch(sid: string, session: SessionData, cb?: Callback): Promise<unknown> {
    const expiresAt = Date.now() + ttlSeconds(session) * 1000;
    if (this.#touches.skips(sid, expiresAt)) return settle(null, null, cb);
    return super.touch(sid, session, (err, data) => {
      if (!err) this.#touches.remember(sid, expiresAt);
      return settle(err, data, cb);
    });
  }

  override async destroy(sid: string, cb?: Callback): Promise<unknown> {
    this.#touches.remember(sid, undefined);
    return super.destroy(sid, cb);
  }

  override async clear(cb?: Callback): Promise<unknown> {
    this.#touches.clear();
    return super.clear(cb);
  }
}
