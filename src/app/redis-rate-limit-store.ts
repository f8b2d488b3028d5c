import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;

// One round trip, atomic: the first hit of a window sets its expiry, so the window is fixed
// (as express-rate-limit's memory store and the database store count).
const INCREMENT = `local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {hits, redis.call('PTTL', KEYS[1])}`;

function clientInfo(reply: unknown): ClientRateLimitInfo {
  const [hits, ttl] = reply as [number, number];
  return { totalHits: Number(hits), resetTime: new Date(Date.now() + Math.max(0, Number(ttl))) };
}

/**
 * An express-rate-limit store in Redis, for limits every app process must share. Scripts are sent
 * whole (EVAL) on each call rather than loaded once: these limits count a handful of requests per
 * person, and a script loaded at start would be lost to a Redis that was down then or restarted
 * since (rate-limit-redis keeps such a failed load and fails every call after it).
 */
export class RedisRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  #windowMs = 60_000;
  readonly #client: RedisClient;

  /** `prefix` names the limit's keys (`accord:rl:link-attempts:`). */
  constructor(client: RedisClient, prefix: string) {
    this.#client = client;
    this.prefix = prefix;
  }

  init(options: Options): void {
    this.#windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    return clientInfo(await this.#client.eval(INCREMENT, { keys: [this.prefix + key], arguments: [String(this.#windowMs)] }));
  }

  async decrement(key: string): Promise<void> {
    await this.#client.eval("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end", { keys: [this.prefix + key] });
  }

  async resetKey(key: string): Promise<void> {
    await this.#client.del(this.prefix + key);
  }
}
