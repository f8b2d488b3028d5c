import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import * as client from 'openid-client';
import type { TenantConfig } from '../../tenant-config.ts';
import { isTenantError } from '../../tenant-errors.ts';
import { identityUserIdFor, type Connection, type ConnectionConfig, type ConnectionRegistry } from '../../connections.ts';
import { SYSTEM_ACTOR } from '../../directory/audit.ts';
import { isPlausibleEmail } from '../../directory/email.ts';
import type { CsrfTokens } from '../../login/csrf.ts';
import type { ConnectionStrategy, Interaction, LoginEnvironment } from '../../login/login-environment.ts';
import type { InProcessFetch } from './in-process-fetch.ts';

type OidcConnectionConfig = Extract<ConnectionConfig, { strategy: 'oidc' }>;

/** How long a person may spend at the upstream IdP before the sign-in must start over. */
const TRANSACTION_TTL_SECONDS = 600;
const TRANSACTION_COOKIE = 'accord_upstream';
/** oidc-provider's interaction uids (nanoid); anything else in a `state` is not ours. */
const UID_PATTERN = /^[A-Za-z0-9_-]{10,64}$/;

/**
 * Clock difference allowed between the tenant and an upstream when judging `auth_time`
 * (openid-client's default tolerance).
 */
const AUTH_TIME_SKEW_SECONDS = 30;

/** The upstream request in flight: what the callback must see again (RFC 9700 §2.1, §4.7). */
export interface UpstreamTransaction {
  connection: string;
  state: string;
  codeVerifier: string;
  nonce: string;
  /** The `max_age` the tenant was asked for: the upstream sign-in must be at most this old. */
  maxAge?: number;
  /** The tenant was asked for `prompt=login`: the upstream sign-in must be newer than this request. */
  freshLogin?: boolean;
  /** When the upstream request was made (epoch seconds). */
  startedAt: number;
  expiresAt: number;
}

// ---------------------------------------------------------------- upstream discovery

const configurations = new WeakMap<Connection, Promise<client.Configuration>>();
const inProcessFetches = new WeakMap<Connection, InProcessFetch>();

/** Routes a connection's back channel (discovery, token, JWKS) in-process; the demo IdP uses it. */
export function useInProcessFetch(connection: Connection, fetch: InProcessFetch): void {
  inProcessFetches.set(connection, fetch);
  configurations.delete(connection);
}

function isLoopback(url: URL): boolean {
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/** The upstream's metadata and our client there, discovered once per connection (retried after a failure). */
function upstreamConfiguration(connection: Connection): Promise<client.Configuration> {
  const cached = configurations.get(connection);
  if (cached) return cached;
  const settings = connection.config as OidcConnectionConfig;
  const issuer = new URL(settings.issuer);
  const fetch = inProcessFetches.get(connection);
  const discovered = client.discovery(
    issuer,
    settings.client_id,
    settings.client_secret,
    settings.client_secret ? client.ClientSecretBasic(settings.client_secret) : client.None(),
    {
      ...(fetch ? { [client.customFetch]: fetch as client.CustomFetch } : {}),
      // Plain http only to the machine itself (or in-process, where nothing crosses a network).
      ...(isLoopback(issuer) || fetch ? { execute: [client.allowInsecureRequests] } : {}),
    },
  );
  configurations.set(connection, discovered);
  discovered.catch(() => {
    if (configurations.get(connection) === discovered) configurations.delete(connection);
  });
  return discovered;
}

export function upstreamRedirectUri(config: TenantConfig, connection: Connection): string {
  return `${config.url}/login/callback/${encodeURIComponent(connection.name)}`;
}

/**
 * RFC 7636's S256 challenge, BASE64URL(SHA-256(verifier)): what openid-client's
 * `calculatePKCECodeChallenge` returns, computed synchronously rather than through WebCrypto's
 * asynchronous digest job and its promises.
 */
export function pkceChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier).digest('base64url');
}

// ---------------------------------------------------------------- the transaction cookie

/**
 * The transaction lives in the browser, encrypted (AES-256-GCM) under a key derived from the
 * tenant's cookie key, bound to the interaction uid (authenticated data) and scoped to
 * `/login/<uid>`: it is readable only by this tenant, only for this sign-in, only in this
 * browser (which also holds oidc-provider's interaction cookie), and it is cleared when used.
 */
class TransactionCookies {
  readonly #key: Buffer;
  readonly #secure: boolean;

  constructor(csrf: CsrfTokens, config: TenantConfig) {
    // A keyed PRF of the tenant's cookie key; no interaction uid can ever equal this label.
    this.#key = createHash('sha256').update(csrf.issue('accord:upstream-transaction-key')).digest();
    this.#secure = config.url.startsWith('https:');
  }

  write(res: Response, uid: string, transaction: UpstreamTransaction): void {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(uid));
    const sealed = Buffer.concat([cipher.update(JSON.stringify(transaction)), cipher.final()]);
    const value = [iv, cipher.getAuthTag(), sealed].map((b) => b.toString('base64url')).join('.');
    res.cookie(TRANSACTION_COOKIE, value, {
      path: `/login/${uid}`,
      httpOnly: true,
      sameSite: 'lax',
      secure: this.#secure,
      maxAge: TRANSACTION_TTL_SECONDS * 1000,
    });
  }

  /** The transaction for this interaction, cleared from the browser: a callback is honoured once. */
  take(req: Request, res: Response, uid: string): UpstreamTransaction | undefined {
    res.clearCookie(TRANSACTION_COOKIE, { path: `/login/${uid}`, httpOnly: true, sameSite: 'lax', secure: this.#secure });
    for (const value of cookieValues(req, TRANSACTION_COOKIE)) {
      const transaction = this.#open(value, uid);
      if (transaction && transaction.expiresAt > Date.now() / 1000) return transaction;
    }
    return undefined;
  }

  #open(value: string, uid: string): UpstreamTransaction | undefined {
    const [iv, tag, sealed] = value.split('.').map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !tag || !sealed || iv.length !== 12 || tag.length !== 16) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(uid)).setAuthTag(tag);
      return JSON.parse(Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8')) as UpstreamTransaction;
    } catch {
      return undefined;
    }
  }
}

function cookieValues(req: Request, name: string): string[] {
  const header = req.headers.cookie ?? '';
  return header.split(';').flatMap((pair) => {
    const at = pair.indexOf('=');
    if (at < 0 || pair.slice(0, at).trim() !== name) return [];
    try {
      return [decodeURIComponent(pair.slice(at + 1).trim())];
    } catch {
      return [];
    }
  });
}

// ---------------------------------------------------------------- claims

/** What the tenant keeps from the upstream's id_token. */
export interface UpstreamProfile {
  sub: string;
  email?: string;
  email_verified: boolean;
  name?: string;
  picture?: string;
}

/**
 * Reads the id_token's claims (never userinfo's email, which carries no verification of its
 * own). `email_verified` is true only for the boolean `true` from a connection trusted to
 * verify emails: the string "true", a missing claim or an untrusted IdP all mean false.
 */
export function profileFromClaims(claims: Record<string, unknown>, trustEmailVerified: boolean): UpstreamProfile {
  const text = (value: unknown, max: number) => (typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined);
  const email = text(claims.email, 320);
  const usableEmail = email !== undefined && isPlausibleEmail(email) ? email : undefined;
  const name = text(claims.name, 300);
  const picture = text(claims.picture, 2000);
  return {
    sub: String(claims.sub),
    ...(usableEmail ? { email: usableEmail } : {}),
    email_verified: usableEmail !== undefined && trustEmailVerified && claims.email_verified === true,
    ...(name ? { name } : {}),
    ...(picture && /^https:\/\//.test(picture) ? { picture } : {}),
  };
}

async function findOrCreateUser(env: LoginEnvironment, connection: Connection, profile: UpstreamProfile): Promise<string> {
  const identityUserId = identityUserIdFor(connection, profile.sub);
  if (await env.directory.findByIdentity(connection.provider, identityUserId)) return identityUserId;
  try {
    await env.directory.createFederatedUser(
      {
        connection: connection.name,
        sub: profile.sub,
        email: profile.email,
        email_verified: profile.email_verified,
        name: profile.name,
        picture: profile.picture,
      },
      SYSTEM_ACTOR,
    );
  } catch (err) {
    // Two first sign-ins racing: the other one created it.
    if (!isTenantError(err, 'user_exists')) throw err;
  }
  return identityUserId;
}

/**
 * Whether the upstream's id_token shows the fresh sign-in the tenant was asked for, when it
 * was asked for one: `auth_time` present, within `max_age`, and after the upstream request for
 * `prompt=login`. Otherwise the upstream reused a sign-in of its own, and the tenant would be
 * vouching (with its own `auth_time`) for a freshness nobody checked.
 */
export function upstreamAuthTimeProblem(claims: Record<string, unknown>, transaction: UpstreamTransaction, now: number): 'missing' | 'stale' | undefined {
  if (transaction.maxAge === undefined && !transaction.freshLogin) return undefined;
  const authTime = claims.auth_time;
  if (typeof authTime !== 'number' || !Number.isFinite(authTime)) return 'missing';
  if (transaction.maxAge !== undefined && authTime < now - transaction.maxAge - AUTH_TIME_SKEW_SECONDS) return 'stale';
  if (transaction.freshLogin && authTime < transaction.startedAt - AUTH_TIME_SKEW_SECONDS) return 'stale';
  return undefined;
}

// ---------------------------------------------------------------- routes

function interactionMaxAge(interaction: Interaction): number | undefined {
  const raw = interaction.params.max_age;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? Number(raw) : undefined;
  return value !== undefined && Number.isSafeInteger(value) ? value : undefined;
}

function upstreamErrorPage(env: LoginEnvironment, res: Response, connection: Connection, uid: string, error: string) {
  const page = upstreamRefusal(error, connection.displayName);
  env.render(
    res,
    'tenant/message',
    { title: page.title, message: page.message, link: { href: `/login/${uid}`, label: 'Choose another way to sign in' } },
    page.status,
  );
}

/** What a person reads when the upstream (named `name`) did not sign them in, by the error it gave. */
function upstreamRefusal(error: string, name: string): { status: number; title: string; message: string } {
  if (error === 'access_denied') {
    return { status: 400, title: 'Sign-in cancelled', message: `${name} did not sign you in: the sign-in was cancelled or refused there.` };
  }
  if (error === 'login_required' || error === 'interaction_required' || error === 'consent_required') {
    return { status: 400, title: 'Sign-in needed', message: `${name} needs you to sign in there first.` };
  }
  if (error === 'stale') {
    return {
      status: 400,
      title: 'A fresh sign-in is needed',
      message: `${name} did not ask you to sign in again: it used an earlier sign-in, so it cannot prove that it is you right now. Sign out of ${name}, then try again, or choose another way to sign in.`,
    };
  }
  if (error === 'missing') {
    return {
      status: 400,
      title: 'A fresh sign-in is needed',
      message: `${name} did not say when you signed in, so it cannot prove that it is you right now. Choose another way to sign in.`,
    };
  }
  return { status: 502, title: 'Sign-in failed', message: `${name} could not sign you in. Try again, or choose another way to sign in.` };
}

/**
 * An upstream OpenID Provider as a connection: code flow with PKCE, state and nonce to the
 * upstream, then the id_token's `sub` is the identity and its claims the profile.
 */
export const oidcConnection: ConnectionStrategy = {
  strategy: 'oidc',
  router(env) {
    const router = Router({ mergeParams: true });
    const transactions = new TransactionCookies(env.csrf, env.config);

    router.get('/', async (req, res) => {
      const connection = res.locals.connection as Connection;
      const interaction = res.locals.interaction as Interaction;
      let configuration: client.Configuration;
      try {
        configuration = await upstreamConfiguration(connection);
      } catch (err) {
        env.logger.warn({ err: { message: (err as Error).message }, connection: connection.name }, 'upstream discovery failed');
        return env.render(
          res,
          'tenant/message',
          {
            title: 'Sign-in unavailable',
            message: `${connection.displayName} cannot be reached right now. Try again later, or choose another way to sign in.`,
            link: { href: `/login/${interaction.uid}`, label: 'Choose another way to sign in' },
          },
          502,
        );
      }
      const settings = connection.config as OidcConnectionConfig;
      const transaction: UpstreamTransaction = {
        connection: connection.name,
        // The uid lets the tenant-level callback find this sign-in; the rest is unguessable.
        state: `${interaction.uid}.${client.randomState()}`,
        codeVerifier: client.randomPKCECodeVerifier(),
        nonce: client.randomNonce(),
        startedAt: Math.floor(Date.now() / 1000),
        expiresAt: Math.floor(Date.now() / 1000) + TRANSACTION_TTL_SECONDS,
      };
      const parameters: Record<string, string> = {
        response_type: 'code',
        redirect_uri: upstreamRedirectUri(env.config, connection),
        scope: settings.scopes,
        state: transaction.state,
        nonce: transaction.nonce,
        code_challenge: pkceChallenge(transaction.codeVerifier),
        code_challenge_method: 'S256',
      };
      const hint = interaction.params.login_hint ?? req.query.login_hint;
      if (typeof hint === 'string' && hint.length > 0 && hint.length <= 320) parameters.login_hint = hint;
      // A fresh login asked of the tenant must be a fresh login at the upstream too, and the
      // callback checks that it was. An OpenID Provider must put auth_time in the id_token when
      // max_age is sent; for prompt=login alone, max_age=0 asks for it (and for a fresh login).
      const prompt = typeof interaction.params.prompt === 'string' ? interaction.params.prompt.split(' ') : [];
      const maxAge = interactionMaxAge(interaction);
      if (prompt.includes('login')) {
        parameters.prompt = 'login';
        transaction.freshLogin = true;
      }
      if (maxAge !== undefined) transaction.maxAge = maxAge;
      const upstreamMaxAge = maxAge ?? (transaction.freshLogin ? 0 : undefined);
      if (upstreamMaxAge !== undefined) parameters.max_age = String(upstreamMaxAge);
      transactions.write(res, interaction.uid, transaction);
      res.redirect(303, client.buildAuthorizationUrl(configuration, parameters).href);
    });

    router.get('/callback', async (req, res) => {
      const connection = res.locals.connection as Connection;
      const interaction = res.locals.interaction as Interaction;
      const transaction = transactions.take(req, res, interaction.uid);
      const query = new URL(req.originalUrl, 'http://tenant').searchParams;
      if (!transaction || transaction.connection !== connection.name || query.get('state') !== transaction.state) {
        return env.render(
          res,
          'tenant/message',
          {
            title: 'This sign-in has expired',
            message: `The answer from ${connection.displayName} does not belong to a sign-in in progress in this browser. Go back to the application and sign in again.`,
          },
          400,
        );
      }
      const error = query.get('error');
      if (error) return upstreamErrorPage(env, res, connection, interaction.uid, error);

      let claims: Record<string, unknown>;
      try {
        const configuration = await upstreamConfiguration(connection);
        const callbackUrl = new URL(upstreamRedirectUri(env.config, connection));
        callbackUrl.search = query.toString();
        const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
          pkceCodeVerifier: transaction.codeVerifier,
          expectedState: transaction.state,
          expectedNonce: transaction.nonce,
          idTokenExpected: true,
        });
        claims = { ...tokens.claims() };
      } catch (err) {
        const e = err as { code?: string; error?: string; message?: string };
        env.logger.warn({ err: { code: e.code, error: e.error, message: e.message }, connection: connection.name }, 'upstream sign-in rejected');
        return upstreamErrorPage(env, res, connection, interaction.uid, e.error === 'access_denied' ? 'access_denied' : 'failed');
      }
      const freshness = upstreamAuthTimeProblem(claims, transaction, Math.floor(Date.now() / 1000));
      if (freshness) {
        env.logger.warn(
          { connection: connection.name, auth_time: claims.auth_time, max_age: transaction.maxAge, prompt_login: transaction.freshLogin === true },
          'upstream sign-in not fresh',
        );
        return upstreamErrorPage(env, res, connection, interaction.uid, freshness);
      }

      const profile = profileFromClaims(claims, connection.trustEmailVerified);
      const identityUserId = await findOrCreateUser(env, connection, profile);
      // 'fed': authenticated by a federated identity provider, the tenant checked no secret itself.
      await env.finish(req, res, { provider: connection.provider, user_id: identityUserId }, ['fed']);
    });

    return router;
  },
};

/**
 * The redirect_uri registered at every upstream: `/login/callback/<connection>`. It cannot see
 * the interaction (oidc-provider's interaction cookie is scoped to `/login/<uid>`), so it only
 * sends the browser on to `/login/<uid>/<connection>/callback`, where the interaction and the
 * transaction cookie are both present and everything is checked. Mount before the interaction router.
 */
export function upstreamCallbackRoutes(options: { config: TenantConfig; connections: ConnectionRegistry }): Router {
  const router = Router();
  router.get('/login/callback/:connection', (req, res) => {
    res.set('Cache-Control', 'no-store');
    const connection = options.connections.byName(req.params.connection);
    const query = new URL(req.originalUrl, 'http://tenant').search;
    const state = typeof req.query.state === 'string' ? req.query.state : '';
    const uid = state.slice(0, Math.max(0, state.indexOf('.')));
    if (!connection || connection.strategy !== 'oidc' || !UID_PATTERN.test(uid)) {
      return res.status(400).render('tenant/message', {
        tenantName: options.config.name,
        title: 'This sign-in has expired',
        message: 'This answer from a sign-in provider does not belong to a sign-in in progress. Go back to the application and sign in again.',
      });
    }
    res.redirect(303, `/login/${uid}/${encodeURIComponent(connection.name)}/callback${query}`);
  });
  return router;
}
