import { z } from 'zod';
import type { AccordError } from '../../platform/errors.ts';
import { appError, appErrors } from '../app-errors.ts';
import {
  connectionSchema,
  logsSchema,
  userSchema,
  identitySchema,
  type Auth0Connection,
  type Auth0Identity,
  type Auth0LogEvent,
  type Auth0User,
} from './management-schemas.ts';
import { ReadCache } from './read-cache.ts';
import { ClientCredentialsToken } from './token.ts';
import { errorDetails, type Method, parseReply, type Reply, Transport, transientOrOther } from './transport.ts';

export type { Auth0Connection, Auth0Identity, Auth0LogEvent, Auth0User } from './management-schemas.ts';

/**
 * The app's client for the Auth0 Management API v2 (Accord's own tenant or a real Auth0
 * tenant). It speaks only HTTP: the app never imports the tenant's code, so it works
 * unchanged against either. Its parts: the API calls and what their errors mean (here), the
 * HTTP with retries (transport.ts), the token (token.ts), the read cache (read-cache.ts) and
 * the checks a body passes (management-schemas.ts).
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

// ------------------------------------------------------------------ client

/** What a 404 means depends on the call: on unlink it is usually the identity that is missing. */
type Missing = 'user' | 'identity';

export class ManagementClient {
  readonly #apiBase: string;
  // Private fields so neither util.inspect nor JSON.stringify of the client shows the secret or token.
  readonly #clientSecret: string;
  readonly #transport: Transport;
  readonly #token: ClientCredentialsToken;
  readonly #reads: ReadCache;

  constructor(options: ManagementClientOptions) {
    const issuer = options.issuer.replace(/\/+$/, '');
    if (!/^https?:\/\/[^/]/.test(issuer)) throw new TypeError('ManagementClient: issuer must be an http(s) URL.');
    if (!options.clientId || !options.clientSecret) throw new TypeError('ManagementClient: clientId and clientSecret are required.');
    this.#apiBase = `${issuer}/api/v2`;
    this.#clientSecret = options.clientSecret;
    this.#transport = new Transport({
      fetch: options.fetch ?? globalThis.fetch,
      retries: Math.floor(nonNegative(options.retries, 3, 'retries')),
      baseDelayMs: nonNegative(options.baseDelayMs, 200, 'baseDelayMs'),
      maxDelayMs: nonNegative(options.maxDelayMs, 5000, 'maxDelayMs'),
      timeoutMs: nonNegative(options.timeoutMs, 10_000, 'timeoutMs'),
    });
    this.#token = new ClientCredentialsToken({
      transport: this.#transport,
      issuer,
      tokenEndpoint: options.tokenEndpoint ?? `${issuer}/oauth/token`,
      audience: options.audience ?? `${issuer}/api/v2/`,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      refreshSkewMs: nonNegative(options.refreshSkewSeconds, 60, 'refreshSkewSeconds') * 1000,
    });
    this.#reads = new ReadCache(nonNegative(options.readCacheTtlMs, 0, 'readCacheTtlMs'));
  }

  /** Whether reads are reused (readCacheTtlMs > 0). Callers share cached results: they must treat them as read-only. */
  get cachesReads(): boolean {
    return this.#reads.enabled;
  }

  getUser(id: string, options: ReadOptions = {}): Promise<Auth0User> {
    const path = userPath(id);
    return this.#reads.read(path, options.fresh, () => this.#call('GET', path, userSchema, { missing: 'user' }));
  }

  /** Exact match as the server defines it (Auth0: case-sensitive); normalising is the caller's job. */
  usersByEmail(email: string, options: ReadOptions = {}): Promise<Auth0User[]> {
    const path = usersByEmailPath(email);
    return this.#reads.read(path, options.fresh, () => this.#call('GET', path, z.array(userSchema), { missing: 'user' }));
  }

  /** `getUser`'s read, when the read cache has it at hand (see ReadCache.peek); otherwise undefined. */
  cachedUser(id: string): Auth0User | undefined {
    return this.#reads.peek(userPath(id));
  }

  /** `usersByEmail`'s read, when the read cache has it at hand; otherwise undefined. */
  cachedUsersByEmail(email: string): Auth0User[] | undefined {
    return this.#reads.peek(usersByEmailPath(email));
  }

  /** `userLogs`'s read, when the read cache has it at hand; otherwise undefined. */
  cachedUserLogs(id: string, perPage = 50): Auth0LogEvent[] | undefined {
    return this.#reads.peek(userLogsPath(id, perPage));
  }

  /** Metadata merges at the top level on the server; `null` deletes a key. Only these two fields are ever sent. */
  updateUser(id: string, body: { user_metadata?: Record<string, unknown> | null; app_metadata?: Record<string, unknown> | null }): Promise<Auth0User> {
    const payload: Record<string, unknown> = {};
    if (body.user_metadata !== undefined) payload.user_metadata = body.user_metadata;
    if (body.app_metadata !== undefined) payload.app_metadata = body.app_metadata;
    return this.#reads.write(() => this.#call('PATCH', `/users/${seg(id)}`, userSchema, { missing: 'user', body: payload }));
  }

  linkIdentity(primaryId: string, secondary: { provider: string; user_id: string; connection_id?: string }): Promise<Auth0Identity[]> {
    const payload: Record<string, unknown> = { provider: secondary.provider, user_id: secondary.user_id };
    if (secondary.connection_id !== undefined) payload.connection_id = secondary.connection_id;
    // Not idempotent: a retry after a link that did happen would fail ("secondary not found"),
    // so only failures that prove the server did nothing are retried.
    return this.#reads.write(() =>
      this.#call('POST', `/users/${seg(primaryId)}/identities`, z.array(identitySchema), { missing: 'user', body: payload, idempotent: false }),
    );
  }

  /** `restoreMetadata` is Accord's extension (the tenant keeps a snapshot at link time); Auth0 ignores it. */
  unlinkIdentity(primaryId: string, provider: string, identityUserId: string, options: { restoreMetadata?: boolean } = {}): Promise<Auth0Identity[]> {
    const query = options.restoreMetadata ? '?restore_metadata=true' : '';
    return this.#reads.write(() =>
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
    const path = userLogsPath(id, perPage);
    return this.#reads.read(path, options.fresh, () => this.#call('GET', path, logsSchema, { missing: 'user' }));
  }

  connections(options: ReadOptions = {}): Promise<Auth0Connection[]> {
    return this.#reads.read('/connections', options.fresh, () => this.#call('GET', '/connections', z.array(connectionSchema), { missing: 'user' }));
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
      const token = await this.#token.get();
      const reply = await this.#transport.exchange(
        method,
        `${this.#apiBase}${path}`,
        { ...headers, authorization: `Bearer ${token}` },
        body,
        options.idempotent ?? true,
      );
      // A 401 with a token we believed valid means it was revoked or expired early: renew once.
      if (reply.status === 401 && !renewed) {
        renewed = true;
        this.#token.forget(token);
        continue;
      }
      if (reply.status >= 200 && reply.status < 300) return parseReply(schema, reply);
      throw this.#apiError(reply, options.missing, token);
    }
  }

  #apiError(reply: Reply, missing: Missing, token: string): AccordError {
    const details = errorDetails(reply, [this.#clientSecret, token]);
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
    return transientOrOther(reply, details);
  }
}

function userPath(id: string): string {
  return `/users/${seg(id)}`;
}

function usersByEmailPath(email: string): string {
  return `/users-by-email?email=${formEncode(email)}`;
}

/**
 * A value as URLSearchParams writes it (application/x-www-form-urlencoded): every page looks its
 * candidates up by this path in the read cache, and a URLSearchParams built for it was the
 * largest part of that lookup. encodeURIComponent leaves `!'()~` as they are and writes a space
 * as `%20`; it refuses a lone surrogate, which URLSearchParams writes as U+FFFD.
 */
export function formEncode(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    return new URLSearchParams({ v: value }).toString().slice(2);
  }
  return FORM_DIFFERENCE.test(encoded) ? encoded.replace(FORM_DIFFERENCES, (c) => FORM_ENCODED[c]!) : encoded;
}
const FORM_DIFFERENCE = /[!'()~]|%20/;
const FORM_DIFFERENCES = /[!'()~]|%20/g;
const FORM_ENCODED: Record<string, string> = { '!': '%21', "'": '%27', '(': '%28', ')': '%29', '~': '%7E', '%20': '+' };

/** What URLSearchParams gives for `{ per_page, sort: 'date:-1' }`, without building one on every page. */
function userLogsPath(id: string, perPage: number): string {
  return `/users/${seg(id)}/logs?per_page=${perPage}&sort=date%3A-1`;
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
