import { createClient } from 'redis';
import type { Logger } from '../../platform/logger.ts';
import { OutageLog } from '../../platform/outage-log.ts';
import type { RedisClient } from '../redis-rate-limit-store.ts';

export interface RedisTimeouts {
  /** Opening a connection, including its handshake (REDIS_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** Waiting for one command's answer (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
}

export const DEFAULT_REDIS_TIMEOUTS: RedisTimeouts = { connectTimeoutMs: 5_000, commandTimeoutMs: 2_000 };

/** The longest pause between two reconnection attempts: Redis back is noticed within it. */
const MAX_RECONNECT_DELAY_MS = 500;
/**
 * How long one reconnection attempt may take, connection and handshake, once the app has
 * started (at most REDIS_CONNECT_TIMEOUT_MS). An attempt made into a network that swallows
 * packets never finishes; waiting the whole connect timeout on it would keep the app from
 * noticing that Redis is back for that long. Redis answers a handshake in milliseconds.
 */
const RECONNECT_ATTEMPT_MS = 500;

/** A command Redis did not answer in time: a dependency that is down (ETIMEDOUT, so a 503). */
export class RedisCommandTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

export interface BoundedRedis {
  /** Every command through it fails within the command timeout rather than wait for Redis. */
  client: RedisClient;
  /** Whether the client is connected now (false while Redis is down and it reconnects). */
  connected(): boolean;
  /** Resolves if Redis answers a PING now, within the command timeout (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The URL without its password, for messages. */
function shown(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'REDIS_URL';
  }
}

/**
 * Connects to Redis and returns a client no request waits on without bound. node-redis alone
 * waits for an answer as long as its connection stays open (a network that swallows packets,
 * a Redis that hangs), and queues commands while it reconnects; so here
 * - commands are refused at once while the client is not connected (no offline queue);
 * - every command fails after `commandTimeoutMs`, and a connection that let one go unanswered
 *   is replaced, not reused: what was sent on it may never be answered;
 * - a reconnection attempt that has not finished within RECONNECT_ATTEMPT_MS is given up for a
 *   new one, so Redis back is noticed within a second however the outage left the last attempt;
 * - reconnection attempts never stop, at most MAX_RECONNECT_DELAY_MS apart.
 * Outages are logged once each. Rejects, with a message that says what to check, when Redis
 * cannot be reached within `connectTimeoutMs` at start: the app must not start without it.
 */
export async function connectRedis(options: {
  url: string;
  timeouts?: Partial<RedisTimeouts> | undefined;
  logger?: Logger | undefined;
}): Promise<BoundedRedis> {
  const timeouts = { ...DEFAULT_REDIS_TIMEOUTS, ...options.timeouts };
  const outage = new OutageLog(options.logger, 'Redis');
  let closed = false;
  /** Bounds the reconnection attempt under way (none at start: the start has its own bound). */
  let attempt: NodeJS.Timeout | undefined;
  const attemptMs = Math.min(timeouts.connectTimeoutMs, RECONNECT_ATTEMPT_MS);

  const open = (): RedisClient => {
    const client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: timeouts.connectTimeoutMs,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
      },
    });
    // node-redis emits 'error' on every failed (re)connect; unhandled, it would end the process.
    client.on('error', (err: unknown) => outage.failed(err));
    client.on('ready', () => {
      clearTimeout(attempt);
      outage.succeeded();
    });
    client.on('reconnecting', () => watch(client));
    return client;
  };

  /** Gives up `client`'s attempt to connect if it has not finished within attemptMs. */
  const watch = (client: RedisClient): void => {
    clearTimeout(attempt);
    attempt = setTimeout(() => {
      if (client === current && !client.isReady) replace(new RedisCommandTimeoutError('a Redis connection attempt was not answered'));
    }, attemptMs);
    attempt.unref();
  };

  let current = open();
  const replace = (reason: Error): void => {
    if (closed) return;
    outage.failed(reason);
    const lost = current;
    current = open();
    lost.destroy();
    watch(current);
    current.connect().catch(() => {});
  };

  const first = current.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      first,
      new Promise((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Redis at ${shown(options.url)} could not be reached within ${timeouts.connectTimeoutMs} ms (REDIS_CONNECT_TIMEOUT_MS). Check REDIS_URL and that Redis is running.`,
              ),
            ),
          timeouts.connectTimeoutMs,
        );
      }),
    ]);
  } catch (err) {
    closed = true;
    clearTimeout(attempt);
    current.destroy();
    first.catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }

  const bounded = (run: () => unknown): unknown => {
    const client = current;
    const result = run();
    if (!result || typeof (result as PromiseLike<unknown>).then !== 'function') return result;
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        const err = new RedisCommandTimeoutError(`Redis did not answer within ${timeouts.commandTimeoutMs} ms (REDIS_COMMAND_TIMEOUT_MS)`);
        reject(err);
        if (client === current) replace(err);
      }, timeouts.commandTimeoutMs);
      (result as PromiseLike<unknown>).then(
        (value) => {
          clearTimeout(deadline);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          reject(err);
        },
      );
    });
  };

  // Always the current connection's client, every call bounded.
  const client = new Proxy({} as RedisClient, {
    get(_target, property) {
      const value = Reflect.get(current, property, current) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => bounded(() => (value as (...a: unknown[]) => unknown).apply(current, args));
    },
    has: (_target, property) => Reflect.has(current, property),
  });

  return {
    client,
    connected: () => current.isReady,
    async ping() {
      await client.ping();
    },
    async close() {
      closed = true;
      clearTimeout(attempt);
      if (!current.isOpen) return;
      // close() lets pending commands finish; a client still connecting has none worth waiting for.
      if (current.isReady) await current.close();
      else current.destroy();
    },
  };
}
