import * as client from 'openid-client';
import { Strategy, type AuthenticateOptions } from 'openid-client/passport';
import type { Request } from 'express';
import type { Passport } from 'passport';
import { appError } from '../app-errors.ts';

/** Who is signed in, from the id_token: all the app keeps in its session about a user. */
export interface SessionUser {
  user_id: string;
  email: string | undefined;
  /** Only the boolean `true` counts: a string "true" or a missing claim is not verified. */
  email_verified: boolean;
  name: string | undefined;
  picture: string | undefined;
  /** When the person last entered credentials at the tenant (epoch seconds). */
  auth_time: number;
  /** The tenant session of the sign-in (the id_token's `sid`): a logout token may name it. */
  sid?: string | undefined;
  /**
   * When the app verified the sign-in (epoch milliseconds, the app's clock): sessions signed in
   * before the tenant ended the user's sessions stay ended.
   */
  signed_in_at?: number | undefined;
}

/** Auth0's extra authorization parameters a sign-in can carry. */
export interface TenantAuthenticateOptions extends AuthenticateOptions {
  connection?: string | undefined;
  /** Seconds; the strategy then requires a fresh enough `auth_time` in the id_token. */
  maxAge?: number | undefined;
}

/** The app's own passport instance (not the global one), holding both strategies. */
export type AppPassport = InstanceType<typeof Passport>;

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

/**
 * openid-client's passport strategy sends only PKCE when the server supports it; Accord
 * also sends state and nonce (both checked at the callback by the strategy, from the
 * session), and Auth0's `connection` and `max_age` when asked.
 */
class TenantStrategy extends Strategy {
  override authorizationRequestParams<T extends AuthenticateOptions>(req: Request, options: T): URLSearchParams {
    const params = new URLSearchParams(super.authorizationRequestParams(req, options));
    const extra = options as TenantAuthenticateOptions;
    params.set('state', client.randomState());
    params.set('nonce', client.randomNonce());
    if (extra.connection) params.set('connection', extra.connection);
    if (extra.maxAge !== undefined) params.set('max_age', String(extra.maxAge));
    return params;
  }
}

export function sessionUserFromClaims(claims: client.IDToken | undefined): SessionUser {
  if (!claims || typeof claims.sub !== 'string') throw appError('link_proof_invalid', 'The identity service did not return an id_token.');
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  return {
    user_id: claims.sub,
    email: str(claims.email),
    email_verified: claims.email_verified === true,
    name: str(claims.name),
    picture: str(claims.picture),
    // Without auth_time nothing counts as a recent sign-in: 0 fails every freshness check.
    auth_time: typeof claims.auth_time === 'number' ? claims.auth_time : 0,
    sid: str(claims.sid),
  };
}

export interface TenantOidc {
  /** Strategy for the app's own sign-in (its state lives under its own session key). */
  loginStrategy: Strategy;
  /** Strategy for proving control of another account; its callback never replaces the session. */
  linkStrategy: Strategy;
  /** Where to send the browser to end the tenant session too. */
  logoutUrl(idTokenHint: string | undefined, returnTo: string): string;
  /** What back-channel logout tokens are checked against: the discovered issuer (exactly) and keys. */
  logoutTokens: { issuer: string; jwksUri: string; algorithms: string[] };
}

export const LOGIN_STRATEGY = 'accord-login';
export const LINK_STRATEGY = 'accord-link';

/** Node's codes for a server certificate that does not chain to a trusted CA. */
const UNTRUSTED_CERTIFICATE = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/**
 * Why a request to the tenant failed, with its causes (fetch itself says only "fetch failed"),
 * and what to do when the tenant's certificate is one the app does not trust.
 */
function reasonOf(err: unknown): string {
  const messages: string[] = [];
  let untrusted = false;
  for (let e = err as { message?: unknown; code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.message === 'string' && e.message) messages.push(e.message);
    if (typeof e.code === 'string' && UNTRUSTED_CERTIFICATE.has(e.code)) untrusted = true;
  }
  const reason = messages.join(': ') || String(err);
  return untrusted
    ? `${reason}. The app does not trust the tenant's certificate: start it with NODE_EXTRA_CA_CERTS set to the PEM file of the CA that signed it (README "HTTPS on one machine")`
    : reason;
}

/** Discovers the tenant (retrying while it starts) and builds both strategies. */
export async function connectToTenant(options: {
  issuer: string;
  appUrl: string;
  clientId: string;
  clientSecret: string;
  clientAuthMethod: ClientAuthMethod;
  attempts?: number;
  /** Milliseconds each request to the tenant may take (TENANT_TIMEOUT_MS); default 5000. */
  timeoutMs?: number;
}): Promise<TenantOidc> {
  const issuerUrl = new URL(options.issuer);
  const auth =
    options.clientAuthMethod === 'client_secret_post' ? client.ClientSecretPost(options.clientSecret) : client.ClientSecretBasic(options.clientSecret);
  // Plain http only for a tenant on this machine (development and tests).
  const local = issuerUrl.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(issuerUrl.hostname);
  // In seconds; kept for every later request of the configuration (token, userinfo).
  const timeout = Math.ceil((options.timeoutMs ?? 5_000) / 1000);
  const discoveryOptions: client.DiscoveryRequestOptions = local ? { execute: [client.allowInsecureRequests], timeout } : { timeout };
  let configuration: client.Configuration | undefined;
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; !configuration; attempt++) {
    try {
      configuration = await client.discovery(issuerUrl, options.clientId, undefined, auth, discoveryOptions);
    } catch (err) {
      if (attempt >= attempts) throw new Error(`Cannot read the tenant's OpenID configuration at ${issuerUrl.href}: ${reasonOf(err)}`);
      await new Promise((r) => setTimeout(r, 250 * attempt));
    }
  }

  const verify = (tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, done: (err: unknown, user?: Express.User | false) => void) => {
    try {
      const user = sessionUserFromClaims(tokens.claims());
      done(null, { ...user, signed_in_at: Date.now(), id_token: tokens.id_token } as Express.User);
    } catch (err) {
      done(err);
    }
  };
  const loginStrategy = new TenantStrategy(
    {
      config: configuration,
      name: LOGIN_STRATEGY,
      sessionKey: 'oidc:login',
      scope: 'openid profile email',
      callbackURL: `${options.appUrl}/callback`,
    },
    verify,
  );
  const linkStrategy = new TenantStrategy(
    {
      config: configuration,
      name: LINK_STRATEGY,
      sessionKey: 'oidc:link',
      scope: 'openid profile email',
      callbackURL: `${options.appUrl}/link/callback`,
    },
    verify,
  );

  const metadata = configuration.serverMetadata();
  const endSession = metadata.end_session_endpoint;
  if (!metadata.jwks_uri) throw new Error(`The tenant at ${issuerUrl.href} publishes no jwks_uri in its OpenID configuration.`);
  return {
    loginStrategy,
    linkStrategy,
    logoutTokens: {
      issuer: metadata.issuer,
      jwksUri: metadata.jwks_uri,
      // Asymmetric algorithms only: a logout token is signed as the id_token is, never with none or a shared secret.
      algorithms: (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => alg !== 'none' && !alg.startsWith('HS')),
    },
    logoutUrl(idTokenHint, returnTo) {
      if (endSession) {
        return client.buildEndSessionUrl(configuration, {
          client_id: options.clientId,
          post_logout_redirect_uri: returnTo,
          ...(idTokenHint ? { id_token_hint: idTokenHint } : {}),
        }).href;
      }
      // Auth0 tenants without RP-initiated logout discovery still serve /v2/logout.
      const url = new URL('/v2/logout', `${options.issuer}/`);
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('returnTo', returnTo);
      return url.href;
    },
  };
}
