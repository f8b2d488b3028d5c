import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import type { AccordError } from '../../platform/errors.ts';
import { jsonNestsDeeperThan, MAX_JSON_NESTING } from '../../platform/json-nesting.ts';
import { appError, appErrors } from '../app-errors.ts';
import { errorBodySchema } from './management-schemas.ts';

/**
 * The Management API client's HTTP: one exchange with retries and backoff, and the reading of
 * what came back (a body checked against its schema, or the details of an error, never
 * quoting a secret).
 */

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

export interface ErrorDetails {
  [k: string]: unknown;
  status: number;
  errorCode: string | undefined;
  apiMessage: string | undefined;
}

export interface TransportOptions {
  fetch: typeof fetch;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

/** Connection failures where nothing reached the server, so even a POST can be retried. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export class Transport {
  readonly #options: TransportOptions;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  /**
   * One request with retries for 429, 5xx and network errors; returns the last reply, or throws
   * management_unavailable. `timeoutMs` bounds the whole exchange, retries and waits included: a
   * page never waits on the tenant longer than TENANT_TIMEOUT_MS, so a retry (or a server's
   * Retry-After) that would not fit in what is left is not made, and the last answer stands.
   */
  async exchange(method: Method, url: string, headers: Record<string, string>, body: string | undefined, idempotent: boolean): Promise<Reply> {
    const deadline = performance.now() + this.#options.timeoutMs;
    const fits = (waitMs: number) => performance.now() + waitMs < deadline;
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.#options.retries;
      let reply: Reply;
      try {
        const left = Math.max(1, Math.ceil(deadline - performance.now()));
        // redirect: 'manual' so the bearer token is never replayed to wherever a redirect points.
        const res = await this.#options.fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(left) });
        // Read the body inside the try: a timeout or reset mid-body is a network failure too.
        reply = { status: res.status, headers: res.headers, text: await res.text() };
      } catch (err) {
        const cause = networkCause(err);
        const wait = this.#backoff(attempt);
        if (canRetry && (idempotent || NOT_SENT.has(cause)) && fits(wait)) {
          await sleep(wait);
          continue;
        }
        throw appError('management_unavailable', appErrors.definitions.management_unavailable.message, { status: undefined, cause, attempts: attempt + 1 });
      }
      // 429 means the server did nothing, so it is safe to retry even a POST; a 5xx might not be.
      const transient = reply.status === 429 || reply.status >= 500;
      if (transient && canRetry && (idempotent || reply.status === 429)) {
        const wait = this.#retryDelay(reply.headers, attempt);
        if (fits(wait)) {
          await sleep(wait);
          continue;
        }
      }
      return reply;
    }
  }

  /** The server's own hint when it gives one (`retry-after`, then Auth0's `x-ratelimit-reset`), else backoff. */
  #retryDelay(headers: Headers, attempt: number): number {
    const retryAfter = headers.get('retry-after');
    if (retryAfter !== null) {
      const seconds = Number(retryAfter);
      const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - Date.now();
      if (Number.isFinite(ms) && ms > 0) return Math.min(ms, this.#options.maxDelayMs);
    }
    const reset = Number(headers.get('x-ratelimit-reset') ?? NaN);
    if (Number.isFinite(reset)) {
      const ms = reset * 1000 - Date.now();
      if (ms > 0) return Math.min(ms, this.#options.maxDelayMs);
    }
    return this.#backoff(attempt);
  }

  /** Exponential with "equal jitter": half fixed, half random, so clients spread out but still wait. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

/** A successful reply's body, checked against `schema`. */
export function parseReply<T extends z.ZodType>(schema: T, reply: Reply): z.output<T> {
  // Bounded before parsing: the merge and the pages walk metadata recursively.
  if (jsonNestsDeeperThan(reply.text, MAX_JSON_NESTING)) throw malformed(reply.status, [`the body nests more than ${MAX_JSON_NESTING} levels deep`]);
  let json: unknown;
  try {
    json = JSON.parse(reply.text);
  } catch {
    throw malformed(reply.status, ['the body is not JSON']);
  }
  const result = schema.safeParse(json);
  // Paths and zod's messages only: they never quote the received values.
  if (!result.success)
    throw malformed(
      reply.status,
      result.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  return result.data;
}

/** What an error reply says, with every one of `secrets` (the client secret, the token) redacted. */
export function errorDetails(reply: Reply, secrets: (string | undefined)[]): ErrorDetails {
  let parsed: z.output<typeof errorBodySchema> | undefined;
  try {
    const result = jsonNestsDeeperThan(reply.text, MAX_JSON_NESTING) ? undefined : errorBodySchema.safeParse(JSON.parse(reply.text));
    if (result?.success) parsed = result.data;
  } catch {
    // An HTML error page from a proxy, say: the status alone has to do.
  }
  const apiMessage = parsed?.message ?? parsed?.error_description;
  return {
    status: reply.status,
    // Auth0's API puts the code in errorCode; OAuth errors (/oauth/token) in `error`.
    errorCode: parsed?.errorCode ?? (parsed?.error_description !== undefined ? parsed.error : undefined),
    apiMessage: apiMessage === undefined ? undefined : redact(apiMessage, secrets),
  };
}

/** Belt and braces: a server that echoes credentials back must not leak them into logs. */
function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out.length > 500 ? `${out.slice(0, 500)}…` : out;
}

/** 429 and 5xx once retries are spent; anything else unexpected. */
export function transientOrOther(reply: Reply, details: ErrorDetails): AccordError {
  if (reply.status === 429) return appError('too_many_requests', 'The identity service is limiting requests. Try again in a moment.', details);
  if (reply.status >= 500) return appError('management_unavailable', appErrors.definitions.management_unavailable.message, details);
  return appError('management_error', `The identity service refused the request (HTTP ${reply.status}).`, details);
}

function malformed(status: number, issues: string[]): AccordError {
  return appError('management_error', 'The identity service sent a response the app could not understand.', { status, issues });
}

/** A short, secret-free name for why fetch failed: 'timeout', a socket error code, or 'network'. */
function networkCause(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timeout';
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  // Node's happy-eyeballs connect wraps each address's failure in an AggregateError.
  if (cause instanceof AggregateError) {
    const first = (cause.errors[0] as { code?: unknown } | undefined)?.code;
    if (typeof first === 'string') return first;
  }
  return 'network';
}
