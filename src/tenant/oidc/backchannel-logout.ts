import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { importJWK, SignJWT } from 'jose';
import type { Logger } from '../../platform/logger.ts';
import type { BackchannelClient } from '../clients/client-registry.ts';
import type { SigningJwk } from './keys.ts';

/** The `events` member that makes a JWT a logout token (OpenID Connect Back-Channel Logout 1.0). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Seconds a logout token is valid: long enough for a slow client, short enough not to be worth stealing. */
const LOGOUT_TOKEN_TTL = 120;

export interface BackchannelLogoutOptions {
  issuer: string;
  /** The key the tenant signs its id_tokens with: clients verify logout tokens against the same JWKS. */
  signingKey: SigningJwk;
  clients: { backchannelClients(): Promise<BackchannelClient[]> };
  logger: Logger;
  /** Milliseconds each delivery attempt may take; default 2500 (as oidc-provider's own). */
  timeoutMs?: number;
  /** Milliseconds to wait before each retry; default 0.5 s, 2 s, 5 s. */
  retryDelaysMs?: readonly number[];
  fetch?: typeof fetch;
}

type Recipient = Pick<BackchannelClient, 'client_id' | 'backchannel_logout_uri'>;

/** A client's endpoint as logs may show it: no query string, which might carry a secret. */
function endpointOf(uri: string): string {
  const url = new URL(uri);
  return `${url.origin}${url.pathname}`;
}

/** Network errors, timeouts, 429 and 5xx may pass; any other answer will not change on a retry. */
const transient = (status: number | undefined) => status === undefined || status === 429 || status >= 500;

/**
 * Sends OpenID Connect Back-Channel Logout tokens. Delivery runs in the background, never in
 * the request that ended the sessions (a link through the Management API must not wait for
 * the clients): a short timeout per attempt, a few retries, and a failure logged without the
 * token. Each attempt carries a new token (new `jti`), so a retry after a lost answer is not
 * refused as a replay.
 *
 * Client URIs are registered by administrators (the CLI, the embedded wiring), not by dynamic
 * registration, so they may name a private address: the app usually runs next to the tenant.
 */
export class BackchannelLogout {
  readonly #options: BackchannelLogoutOptions;
  readonly #key: ReturnType<typeof importJWK>;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #retryDelaysMs: readonly number[];
  readonly #pending = new Set<Promise<void>>();
  readonly #stop = new AbortController();

  constructor(options: BackchannelLogoutOptions) {
    this.#options = options;
    this.#key = importJWK(options.signingKey, 'RS256');
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.timeoutMs ?? 2500;
    this.#retryDelaysMs = options.retryDelaysMs ?? [500, 2000, 5000];
  }

  /** One tenant session ended (sign-out): the client is told which user and which session. */
  sessionEnded(client: Recipient, sub: string, sid: string | undefined): void {
    this.#track(this.#deliver(client, { sub, ...(sid ? { sid } : {}) }));
  }

  /**
   * Every session of the account ended (password reset, block, deletion, linked away as a
   * secondary): every client with a back-channel URI is told, naming the user only. Not only
   * the clients of its live tenant sessions: an app session may outlive the tenant's.
   */
  accountEnded(sub: string): void {
    this.#track(
      (async () => {
        const clients = await this.#options.clients.backchannelClients();
        await Promise.all(clients.map((client) => this.#deliver(client, { sub })));
      })(),
    );
  }

  /** Resolves once every delivery started so far has succeeded or given up. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  /** Stops retrying and aborts requests in flight (the tenant is closing). */
  close(): void {
    this.#stop.abort();
  }

  #track(work: Promise<void>): void {
    const tracked = work
      .catch((err: unknown) => {
        this.#options.logger.warn({ event: 'backchannel_logout_failed', err: (err as Error)?.message }, 'could not send back-channel logout tokens');
      })
      .finally(() => {
        this.#pending.delete(tracked);
      });
    this.#pending.add(tracked);
  }

  async #deliver(client: Recipient, subject: { sub: string; sid?: string }): Promise<void> {
    const endpoint = endpointOf(client.backchannel_logout_uri);
    let failure = '';
    for (let attempt = 0; attempt <= this.#retryDelaysMs.length; attempt++) {
      if (attempt > 0) {
        try {
          await sleep(this.#retryDelaysMs[attempt - 1]!, undefined, { signal: this.#stop.signal, ref: false });
        } catch {
          break;
        }
      }
      if (this.#stop.signal.aborted) break;
      let status: number | undefined;
      try {
        const response = await this.#fetch(client.backchannel_logout_uri, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ logout_token: await this.#token(client.client_id, subject) }),
          signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#stop.signal]),
        });
        status = response.status;
        await response.body?.cancel();
        if (status === 200 || status === 204) {
          this.#options.logger.debug({ event: 'backchannel_logout_sent', client_id: client.client_id, endpoint }, 'back-channel logout delivered');
          return;
        }
        failure = `answered ${status}`;
      } catch (err) {
        failure = (err as Error)?.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : `unreachable (${(err as Error)?.message})`;
      }
      if (!transient(status)) break;
    }
    this.#options.logger.warn(
      {
        event: 'backchannel_logout_failed',
        client_id: client.client_id,
        endpoint,
        user_id: subject.sub,
        reason: failure,
      },
      'a client was not told that sessions ended',
    );
  }

  async #token(clientId: string, subject: { sub: string; sid?: string }): Promise<string> {
    return new SignJWT({ events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, jti: randomBytes(16).toString('base64url'), ...(subject.sid ? { sid: subject.sid } : {}) })
      .setProtectedHeader({ alg: 'RS256', kid: this.#options.signingKey.kid, typ: 'logout+jwt' })
      .setIssuer(this.#options.issuer)
      .setAudience(clientId)
      .setSubject(subject.sub)
      .setIssuedAt()
      .setExpirationTime(`${LOGOUT_TOKEN_TTL}s`)
      .sign(await this.#key);
  }
}
