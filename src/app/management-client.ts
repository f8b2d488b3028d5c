import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AccordError } from '../platform/errors.ts';
import { appError, appErrors } from './app-errors.ts';
import { jsonNestsDeeperThan, MAX_JSON_NESTING } from '../platform/json-nesting.ts';
import {
  connectionSchema,
  errorBodySchema,
  logsSchema,
  tokenSchema,
  userSchema,
  identitySchema,
  type Auth0Connection,
  type Auth0Identity,
  type Auth0LogEvent,
  type Auth0User,
} from './management-schemas.ts';

export type { Auth0Connection, Auth0Identity, Auth0LogEvent, Auth0User } from './management-schemas.ts';

/**
 * The app's client for the Auth0 Management API v2 (Accord's own tenant or a real Auth0
 * tenant). It speaks only HTTP: the app never imports the tenant's code, so it works
 * unchanged against either.
 */

export interface ManagementClientOptions {
  /** Issuer base URL without trailing slash, e.g. https://example.eu.auth0.com or http://localhost:4000 */
  issuer: string;
  /** Default `${issuer}/api/v2/` */
  audience?: string;
  /** Default `${issuer}/oauth/token` */
  tokenEndpoint?: string;
  clientId: string;
  clientSecret: string;
  /** Injectable for tests. */
  fetch?: typeof fetch;
  /** Default 3 (so at most 4 attempts) for 429, 5xx and network errors. */
  retries?: number;
  /** Default 200; exponential backoff with jitter; `retry-after` and `x-ratelimit-reset` win when present, capped at maxDelayMs. */
  baseDelayMs?: number;
  /** Default 5000. */
  maxDelayMs?: number;
  /** Per request, default 10000. */
  timeoutMs?: number;
  /** Token is refreshed this many seconds before expiry; default 60. */
  refreshSkewSeconds?: number;
  /**
   * Reads (users, users-by-email, logs, connections) are reused for this long unless a caller
   * asks for `fresh`; any write through this client forgets them all. Default 0: no caching.
   */
  readCacheTtlMs?: number;
}

/** Read options: `fresh` skips the read cache and refreshes it (for checks that decide a link, an unlink or a suggestion). */
export interface ReadOptions {
  fresh?: boolean;
}

/** Bounds the read cache; the oldest entries go first. */
const READ_CACHE_MAX = 10_000;

// ------------------------------------------------------------------ client

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** What a 404 means depends on the call: on unlink it is usually the identity that is missing. */
type Missing = 'user' | 'identity';

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

interface CachedToken {
  value: string;
  /** Epoch ms after which the token is refreshed before use. */
  refreshAt: number;
}

/** Connection failures where nothing reached the server, so even a POST can be retried. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export class ManagementClient {
  readonly #apiBase: string;
  readonly #audience: string;
  readonly #tokenEndpoint: string;
  readonly #clientId: string;
  // Private fields so neither util.inspect nor JSON.stringify of the client shows the secret or token.
  readonly #clientSecret: string;
  readonly #fetch: typeof fetch;
  readonly #retries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #refreshSkewMs: number;
  #token: CachedToken | undefined;
  #tokenRequest: Promise<string> | undefined;
  readonly #readCacheTtlMs: number;
  readonly #reads = new Map<string, { at: number; generation: number; value: Promise<unknown> }>();
  /** Bumped at the start and end of every write, so a read that overlapped a write is never reused. */
  #generation = 0;

  constructor(options: ManagementClientOptions) {
    const issuer = options.issuer.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/.test(issuer)) throw new TypeError('ManagementClient: issuer must be an http(s) URL.');
    if (!options.clientId || !options.clientSecret) throw new TypeError('ManagementClient: clientId and clientSecret are required.');
    this.#apiBase = `${issuer}/api/v2`;
    this.#audience = options.audience ?? `${issuer}/api/v2/`;
    this.#tokenEndpoint = options.tokenEndpoint ?? `${issuer}/oauth/token`;
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retries = Math.floor(nonNegative(options.retries, 3, 'retries'));
    this.#baseDelayMs = nonNegative(options.baseDelayMs, 200, 'baseDelayMs');
    this.#maxDelayMs = nonNegative(options.maxDelayMs, 5000, 'maxDelayMs');
    this.#timeoutMs = nonNegative(options.timeoutMs, 10_000, 'timeoutMs');
    this.#refreshSkewMs = nonNegative(options.refreshSkewSeconds, 60, 'refreshSkewSeconds') * 1000;
    this.#readCacheTtlMs = nonNegative(options.readCacheTtlMs, 0, 'readCacheTtlMs');
  }

  /** Whether reads are reused (readCacheTtlMs > 0). */
  get cachesReads(): boolean {
    return this.#readCacheTtlMs > 0;
  }

  /** Callers share cached results: they must treat them as read-only. */
  #read<T>(path: string, options: ReadOptions, load: () => Promise<T>): Promise<T> {
    if (this.#readCacheTtlMs === 0) return load();
    const now = Date.now();
    const hit = this.#reads.get(path);
    // A fresh read also replaces the cached one: the pages after it show what it saw.
    if (!options.fresh && hit && hit.generation === this.#generation && now - hit.at < this.#readCacheTtlMs) return hit.value as Promise<T>;
    const value = load();
    this.#reads.delete(path);
    this.#reads.set(path, { at: now, generation: this.#generation, value });
    if (this.#reads.size > READ_CACHE_MAX) this.#reads.delete(this.#reads.keys().next().value!);
    // A failure is not remembered: the next caller tries again.
    value.catch(() => {
      if (this.#reads.get(path)?.value === value) this.#reads.delete(path);
    });
    return value;
  }

  async #write<T>(run: () => Promise<T>): Promise<T> {
    this.#generation++;
    this.#reads.clear();
    try {
      return await run();
    } finally {
      this.#generation++;
      this.#reads.clear();
    }
  }

  getUser(id: string, options: ReadOptions = {}): Promise<Auth0User> {
    const path = `/users/${seg(id)}`;
    return this.#read(path, options, () => this.#call('GET', path, userSchema, { missing: 'user' }));
  }

  /** Exact match as the server defines it (Auth0: case-sensitive); normalising is the caller's job. */
  usersByEmail(email: string, options: ReadOptions = {}): Promise<Auth0User[]> {
    const path = `/users-by-email?${new URLSearchParams({ email })}`;
    return this.#read(path, options, () => this.#call('GET', path, z.array(userSchema), { missing: 'user' }));
  }

  /** Metadata merges at the top level on the server; `null` deletes a key. Only these two fields are ever sent. */
  updateUser(id: string, body: { user_metadata?: Record<string, unknown> | null; app_metadata?: Record<string, unknown> | null }): Promise<Auth0User> {
    const payload: Record<string, unknown> = {};
    if (body.user_metadata !== undefined) payload.user_metadata = body.user_metadata;
    if (body.app_metadata !== undefined) payload.app_metadata = body.app_metadata;
    return this.#write(() => this.#call('PATCH', `/users/${seg(id)}`, userSchema, { missing: 'user', body: payload }));
  }

  linkIdentity(primaryId: string, secondary: { provider: string; user_id: string; connection_id?: string }): Promise<Auth0Identity[]> {
    const payload: Record<string, unknown> = { provider: secondary.provider, user_id: secondary.user_id };
    if (secondary.connection_id !== undefined) payload.connection_id = secondary.connection_id;
    // Not idempotent: a retry after a link that did happen would fail ("secondary not found"),
    // so only failures that prove the server did nothing are retried.
    return this.#write(() =>
      this.#call('POST', `/users/${seg(primaryId)}/identities`, z.array(identitySchema), { missing: 'user', body: payload, idempotent: false }),
    );
  }

  /** `restoreMetadata` is Accord's extension (the tenant keeps a snapshot at link time); Auth0 ignores it. */
  unlinkIdentity(primaryId: string, provider: string, identityUserId: string, options: { restoreMetadata?: boolean } = {}): Promise<Auth0Identity[]> {
    const query = options.restoreMetadata ? '?restore_metadata=true' : '';
    return this.#write(() =>
      this.#call('DELETE', `/users/${seg(primaryId)}/identities/${seg(provider)}/${seg(identityUserId)}${query}`, z.array(identitySchema), {
        missing: 'identity',
      }),
    );
  }

  /** Newest first. */
  async userLogs(id: string, options: { perPage?: number } & ReadOptions = {}): Promise<Auth0LogEvent[]> {
    const perPage = options.perPage ?? 50;
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) {
      throw appError('invalid_query_string', 'perPage must be an integer from 1 to 100.', { perPage });
    }
    const query = new URLSearchParams({ per_page: String(perPage), sort: 'date:-1' });
    const path = `/users/${seg(id)}/logs?${query}`;
    return this.#read(path, options, () => this.#call('GET', path, logsSchema, { missing: 'user' }));
  }

  connections(options: ReadOptions = {}): Promise<Auth0Connection[]> {
    return this.#read('/connections', options, () => this.#call('GET', '/connections', z.array(connectionSchema), { missing: 'user' }));
  }

  // ---------------------------------------------------------------- API calls

  async #call<T extends z.ZodType>(
    method: Method,
    path: string,
    schema: T,
    options: { missing: Missing; body?: unknown; idempotent?: boolean },
  ): Promise<z.output<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let renewed = false;
    for (;;) {
      const token = await this.#accessToken();
      const reply = await this.#exchange(method, `${this.#apiBase}${path}`, { ...headers, authorization: `Bearer ${token}` }, body, options.idempotent ?? true);
      // A 401 with a token we believed valid means it was revoked or expired early: renew once.
      if (reply.status === 401 && !renewed) {
        renewed = true;
        if (this.#token?.value === token) this.#token = undefined; // not a newer one another caller already fetched
        continue;
      }
      if (reply.status >= 200 && reply.status < 300) return this.#parse(schema, reply);
      throw this.#apiError(reply, options.missing, token);
    }
  }

  #apiError(reply: Reply, missing: Missing, token: string): AccordError {
    const details = this.#errorDetails(reply, token);
    const { status } = reply;
    const code = details.errorCode;
    if (status === 404) {
      if (code === 'inexistent_identity' || (missing === 'identity' && code !== 'inexistent_user')) {
        return appError('inexistent_identity', 'That identity is not linked to this user.', details);
      }
      return appError('inexistent_user', 'The user does not exist in the identity service.', details);
    }
    if (status === 409) {
      // Accord's tenant answers 409 `conflict` when a concurrent change collided: retryable, not "in use".
      if (code === 'conflict') return appError('conflict', appErrors.definitions.conflict.message, details);
      return appError('link_identity_in_use', 'That account is already linked to another user.', details);
    }
    if (status === 400) return appError('invalid_body', 'The identity service rejected the request as invalid.', details);
    if (status === 401) return appError('management_unauthorized', appErrors.definitions.management_unauthorized.message, details);
    if (status === 403) {
      return appError(
        'management_unauthorized',
        "The app's credentials for the identity service lack a required permission. An administrator must grant the client the missing scope.",
        details,
      );
    }
    return this.#transientOrOther(reply, details);
  }

  /** 429 and 5xx once retries are spent; anything else unexpected. */
  #transientOrOther(reply: Reply, details: ErrorDetails): AccordError {
    if (reply.status === 429) return appError('too_many_requests', 'The identity service is limiting requests. Try again in a moment.', details);
    if (reply.status >= 500) return appError('management_unavailable', appErrors.definitions.management_unavailable.message, details);
    return appError('management_error', `The identity service refused the request (HTTP ${reply.status}).`, details);
  }

  #parse<T extends z.ZodType>(schema: T, reply: Reply): z.output<T> {
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

  #errorDetails(reply: Reply, token?: string): ErrorDetails {
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
      apiMessage: apiMessage === undefined ? undefined : this.#redact(apiMessage, token),
    };
  }

  /** Belt and braces: a server that echoes credentials back must not leak them into logs. */
  #redact(text: string, token?: string): string {
    let out = text.split(this.#clientSecret).join('[redacted]');
    if (token) out = out.split(token).join('[redacted]');
    return out.length > 500 ? `${out.slice(0, 500)}…` : out;
  }

  // ---------------------------------------------------------------- token

  #accessToken(): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return Promise.resolve(this.#token.value);
    // Single flight: concurrent callers share one token request.
    this.#tokenRequest ??= this.#requestToken().finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  async #requestToken(): Promise<string> {
    const body = JSON.stringify({ grant_type: 'client_credentials', client_id: this.#clientId, client_secret: this.#clientSecret, audience: this.#audience });
    const reply = await this.#exchange('POST', this.#tokenEndpoint, { 'content-type': 'application/json', accept: 'application/json' }, body, true);
    if (reply.status >= 200 && reply.status < 300) {
      const { access_token, expires_in } = this.#parse(tokenSchema, reply);
      const now = Date.now();
      this.#token = { value: access_token, refreshAt: now + expires_in * 1000 - this.#refreshSkewMs };
      return access_token;
    }
    const details = this.#errorDetails(reply);
    if (reply.status >= 400 && reply.status < 500 && reply.status !== 429) {
      throw appError('management_unauthorized', appErrors.definitions.management_unauthorized.message, details);
    }
    throw this.#transientOrOther(reply, details);
  }

  // ---------------------------------------------------------------- transport

  /** One request with retries for 429, 5xx and network errors; returns the last reply, or throws management_unavailable. */
  async #exchange(method: Method, url: string, headers: Record<string, string>, body: string | undefined, idempotent: boolean): Promise<Reply> {
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.#retries;
      let reply: Reply;
      try {
        // redirect: 'manual' so the bearer token is never replayed to wherever a redirect points.
        const res = await this.#fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs) });
        // Read the body inside the try: a timeout or reset mid-body is a network failure too.
        reply = { status: res.status, headers: res.headers, text: await res.text() };
      } catch (err) {
        const cause = networkCause(err);
        if (canRetry && (idempotent || NOT_SENT.has(cause))) {
          await sleep(this.#backoff(attempt));
          continue;
        }
        throw appError('management_unavailable', appErrors.definitions.management_unavailable.message, { status: undefined, cause, attempts: attempt + 1 });
      }
      // 429 means the server did nothing, so it is safe to retry even a POST; a 5xx might not be.
      const transient = reply.status === 429 || reply.status >= 500;
      if (transient && canRetry && (idempotent || reply.status === 429)) {
        await sleep(this.#retryDelay(reply.headers, attempt));
        continue;
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
      if (Number.isFinite(ms) && ms > 0) return Math.min(ms, this.#maxDelayMs);
    }
    const reset = Number(headers.get('x-ratelimit-reset') ?? NaN);
    if (Number.isFinite(reset)) {
      const ms = reset * 1000 - Date.now();
      if (ms > 0) return Math.min(ms, this.#maxDelayMs);
    }
    return this.#backoff(attempt);
  }

  /** Exponential with "equal jitter": half fixed, half random, so clients spread out but still wait. */
  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

interface ErrorDetails {
  [k: string]: unknown;
  status: number;
  errorCode: string | undefined;
  apiMessage: string | undefined;
}

function malformed(status: number, issues: string[]): AccordError {
  return appError('management_error', 'The identity service sent a response the app could not understand.', { status, issues });
}

/** Path segments: user ids contain `|` and may contain `/`. */
function seg(value: string): string {
  return encodeURIComponent(value);
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`ManagementClient: ${name} must be a non-negative number.`);
  return value;
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
