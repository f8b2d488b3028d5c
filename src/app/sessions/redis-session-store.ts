import { RedisStore } from 'connect-redis';
import type { SessionData } from 'express-session';
import { revocationKey, sessionOwner, type SessionRevoker, type SessionSelector } from './session-owner.ts';
import { DEFAULT_SESSION_TTL_MS } from './session-store.ts';
import { TouchThrottle } from './touch-throttle.ts';

type Callback = (err?: unknown, data?: unknown) => unknown;

/** What the store needs of a node-redis client beyond connect-redis's commands. */
export interface ScriptingClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

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

// The scripts run atomically in Redis, so a save and a back-channel logout never interleave.
// They name the session keys of an owner index inside the script: Accord's sessions live on one
// Redis (node-redis `createClient`), not on a cluster, whose slots would forbid that.

/**
 * Saves a session unless its owner's sessions were ended after it signed in, and adds it to its
 * owners' indexes. KEYS: the session, then (revocation, index) for its user and its tenant
 * session. ARGV: the session, its TTL in seconds, its sign-in time (ms, 0 if unknown), its id.
 */
const SAVE = `
local signedInAt = tonumber(ARGV[3])
for i = 2, #KEYS, 2 do
  local revokedAt = redis.call('GET', KEYS[i])
  if revokedAt and tonumber(revokedAt) >= signedInAt then
    redis.call('DEL', KEYS[1])
    return 0
  end
end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
for i = 3, #KEYS, 2 do
  redis.call('SADD', KEYS[i], ARGV[4])
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1`;

/**
 * Extends a live session and keeps its owners' indexes alive as long. KEYS: the session, then
 * its indexes. ARGV: the TTL in seconds, the session id.
 */
const TOUCH = `
local ttl = tonumber(ARGV[1])
if redis.call('EXPIRE', KEYS[1], ttl) == 0 then return 0 end
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[2])
  if redis.call('TTL', KEYS[i]) < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return 1`;

/**
 * Records a revocation and deletes every session of the index that still has that owner (a
 * session leaves a tenant session's index only by being saved without it). KEYS: the
 * revocation, the index. ARGV: now (ms), how long the revocation is kept (s), the session key
 * prefix, the owner field (passport's user_id or sid) and its value. Returns the ids of the
 * sessions it deleted.
 */
const END = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
local ended = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local stored = redis.call('GET', ARGV[3] .. sid)
  if stored then
    local ok, session = pcall(cjson.decode, stored)
    local user = ok and type(session) == 'table' and type(session.passport) == 'table' and session.passport.user
    if type(user) == 'table' and user[ARGV[4]] == ARGV[5] then
      redis.call('DEL', ARGV[3] .. sid)
      table.insert(ended, sid)
    end
  end
end
redis.call('DEL', KEYS[2])
return ended`;

export interface ThrottledRedisStoreOptions {
  client: ScriptingClient;
  /** Every key starts with it: sessions under `${keyPrefix}sess:`, their owner indexes and revocations beside them. */
  keyPrefix: string;
  /** How long a revocation is remembered, in seconds: as long as a session can live. */
  revocationTtlSeconds?: number;
}

/**
 * Sessions in Redis (connect-redis), touched at most once a minute per session (see
 * TouchThrottle): connect-redis sends an EXPIRE on every request of a rolling session, and
 * express-session holds back the last byte of the page until Redis has answered it.
 *
 * Each session is listed in a set per user and per tenant session, for back-channel logout;
 * `endSessions` deletes them and records the revocation, which a later save of a session signed
 * in before it (by a request under way) respects.
 */
export class ThrottledRedisStore extends RedisStore implements SessionRevoker {
  readonly #touches = new TouchThrottle();
  readonly #scripts: ScriptingClient;
  readonly #keyPrefix: string;
  readonly #revocationTtlSeconds: number;

  constructor(options: ThrottledRedisStoreOptions) {
    super({ client: options.client, prefix: `${options.keyPrefix}sess:`, ttl: ttlSeconds });
    this.#scripts = options.client;
    this.#keyPrefix = options.keyPrefix;
    this.#revocationTtlSeconds = options.revocationTtlSeconds ?? DEFAULT_SESSION_TTL_MS / 1000;
  }

  #ownerKeys(session: SessionData): { revocations: string[]; indexes: string[]; signedInAt: number } {
    const owner = sessionOwner(session);
    const selectors: SessionSelector[] = [...(owner.userId ? [{ userId: owner.userId }] : []), ...(owner.tenantSid ? [{ tenantSid: owner.tenantSid }] : [])];
    return {
      revocations: selectors.map((s) => `${this.#keyPrefix}sess-revoked:${revocationKey(s)}`),
      indexes: selectors.map((s) => `${this.#keyPrefix}sess-owner:${revocationKey(s)}`),
      signedInAt: owner.signedInAt ?? 0,
    };
  }

  override async set(sid: string, session: SessionData, cb?: Callback): Promise<unknown> {
    const ttl = ttlSeconds(session);
    if (ttl <= 0) return this.destroy(sid, cb);
    const expiresAt = Date.now() + ttl * 1000;
    const { revocations, indexes, signedInAt } = this.#ownerKeys(session);
    try {
      const saved = await this.#scripts.eval(SAVE, {
        keys: [this.prefix + sid, ...revocations.flatMap((revocation, i) => [revocation, indexes[i]!])],
        arguments: [JSON.stringify(session), String(ttl), String(signedInAt), sid],
      });
      this.#touches.remember(sid, saved === 1 ? expiresAt : undefined);
      return settle(null, null, cb);
    } catch (err) {
      this.#touches.remember(sid, undefined);
      return settle(err, null, cb);
    }
  }

  override async touch(sid: string, session: SessionData, cb?: Callback): Promise<unknown> {
    const ttl = ttlSeconds(session);
    const expiresAt = Date.now() + ttl * 1000;
    if (this.#touches.skips(sid, expiresAt)) return settle(null, null, cb);
    try {
      const touched = await this.#scripts.eval(TOUCH, { keys: [this.prefix + sid, ...this.#ownerKeys(session).indexes], arguments: [String(ttl), sid] });
      this.#touches.remember(sid, touched === 1 ? expiresAt : undefined);
      return settle(null, null, cb);
    } catch (err) {
      return settle(err, null, cb);
    }
  }

  override async destroy(sid: string, cb?: Callback): Promise<unknown> {
    this.#touches.remember(sid, undefined);
    return super.destroy(sid, cb);
  }

  override async clear(cb?: Callback): Promise<unknown> {
    this.#touches.clear();
    return super.clear(cb);
  }

  async endSessions(selector: SessionSelector): Promise<number> {
    const key = revocationKey(selector);
    const [field, value] = 'tenantSid' in selector ? ['sid', selector.tenantSid] : ['user_id', selector.userId];
    const ended = (await this.#scripts.eval(END, {
      keys: [`${this.#keyPrefix}sess-revoked:${key}`, `${this.#keyPrefix}sess-owner:${key}`],
      arguments: [String(Date.now()), String(this.#revocationTtlSeconds), this.prefix, field, value],
    })) as string[];
    for (const sid of ended) this.#touches.remember(sid, undefined);
    return ended.length;
  }
}
