import { appError, appErrors } from '../app-errors.ts';
import { tokenSchema } from './management-schemas.ts';
import { errorDetails, parseReply, type Transport, transientOrOther } from './transport.ts';

export interface TokenOptions {
  transport: Transport;
  tokenEndpoint: string;
  audience: string;
  clientId: string;
  clientSecret: string;
  /** The token is refreshed this long before it expires. */
  refreshSkewMs: number;
}

/**
 * The Management API's access token, from the client-credentials grant: kept until shortly
 * before it expires, fetched once for all concurrent callers, and forgotten when the API
 * refuses it.
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
    const { transport, tokenEndpoint, audience, clientId, clientSecret, refreshSkewMs } = this.#options;
    const body = JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience });
    const reply = await transport.exchange('POST', tokenEndpoint, { 'content-type': 'application/json', accept: 'application/json' }, body, true);
    if (reply.status >= 200 && reply.status < 300) {
      const { access_token, expires_in } = parseReply(tokenSchema, reply);
      this.#token = { value: access_token, refreshAt: Date.now() + expires_in * 1000 - refreshSkewMs };
      return access_token;
    }
    const details = errorDetails(reply, [clientSecret]);
    if (reply.status >= 400 && reply.status < 500 && reply.status !== 429) {
      throw appError('management_unauthorized', appErrors.definitions.management_unauthorized.message, details);
    }
    throw transientOrOther(reply, details);
  }
}
