import * as oidc from 'openid-client';
import { AccordError } from '../../platform/errors.ts';
import { appError, appErrors } from '../app-errors.ts';
import { tokenSchema } from './management-schemas.ts';
import { errorDetails, parseReply, type Reply, type Transport, transientOrOther } from './transport.ts';

export interface TokenOptions {
  transport: Transport;
  issuer: string;
  tokenEndpoint: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  /** The token is refreshed this long before it expires. */
  refreshSkewMs: number;
}

/**
 * The Management API's access token, from openid-client's client-credentials grant (the
 * client authenticates with client_secret_post, and the request goes through the transport,
 * with its retries and timeout): kept until shortly before it expires, fetched once for all
 * concurrent callers, and forgotten when the API refuses it.
 */
export class ClientCredentialsToken {
  // Private fields so neither util.inspect nor JSON.stringify of the client shows the secret or token.
  readonly #options: TokenOptions;
  #token: { value: string; refreshAt: number } | undefined;
  #request: Promise<string> | undefined;

  constructor(options: TokenOptions) {
    this.#options = options;
  }

  get(): Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return Promise.resolve(this.#token.value);
    // Single flight: concurrent callers share one token request.
    this.#request ??= this.#fetch().finally(() => {
      this.#request = undefined;
    });
    return this.#request;
  }

  /** The API refused `token`: the next call fetches another (unless a newer one is held already). */
  forget(token: string): void {
    if (this.#token?.value === token) this.#token = undefined;
  }

  async #fetch(): Promise<string> {
    const { transport, issuer, tokenEndpoint, audience, clientId, clientSecret, refreshSkewMs } = this.#options;
    const config = new oidc.Configuration({ issuer, token_endpoint: tokenEndpoint }, clientId, clientSecret, oidc.ClientSecretPost(clientSecret));
    if (tokenEndpoint.startsWith('http:')) oidc.allowInsecureRequests(config);
    let reply: Reply | undefined;
    config[oidc.customFetch] = async (url, request) => {
      const headers = Object.fromEntries(new Headers(request.headers));
      reply = await transport.exchange('POST', url, headers, request.body === undefined || request.body === null ? undefined : String(request.body), true);
      return new Response(NULL_BODY.has(reply.status) ? null : reply.text, { status: reply.status, headers: reply.headers });
    };
    try {
      await oidc.clientCredentialsGrant(config, { audience });
    } catch (err) {
      // The transport's own errors (the server unreachable) stand; the rest is told from the reply, as the API's are.
      // (openid-client hands a failed fetch on as its own error, with the transport's as the cause).
      const cause = err instanceof AccordError ? err : (err as { cause?: unknown } | null)?.cause;
      if (cause instanceof AccordError) throw cause;
      if (!reply) throw err;
      if (reply.status >= 200 && reply.status < 300) {
        parseReply(tokenSchema, reply);
        throw appError('management_error', 'The identity service sent a token response the app could not use.', { status: reply.status });
      }
      const details = errorDetails(reply, [clientSecret]);
      if (reply.status >= 400 && reply.status < 500 && reply.status !== 429) {
        throw appError('management_unauthorized', appErrors.definitions.management_unauthorized.message, details);
      }
      throw transientOrOther(reply, details);
    }
    // The same checks as every other body (expires_in is required here: a token must say when it ends).
    const { access_token, expires_in } = parseReply(tokenSchema, reply!);
    this.#token = { value: access_token, refreshAt: Date.now() + expires_in * 1000 - refreshSkewMs };
    return access_token;
  }
}

/** Statuses whose Response may not have a body. */
const NULL_BODY = new Set([204, 205, 304]);
