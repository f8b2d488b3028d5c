import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { TenantConfig } from '../tenant-config.ts';
import type { Database } from '../tenant-database.ts';
import { isDependencyError, RETRY_AFTER_SECONDS } from '../../platform/dependency-errors.ts';
import { UNAVAILABLE_PAGE } from '../error-pages.ts';
import { clientSecretMatches, MANAGEMENT_SCOPES, USER_SCOPES, type ClientRegistry } from '../clients/client-registry.ts';
import type { Directory } from '../directory/directory.ts';
import { profileDefaults } from '../avatars.ts';
import { createAdapterFactory } from './adapter.ts';
import { cookieSigner } from './cookie-signatures.ts';
import type { BackchannelLogout } from './backchannel-logout.ts';
import type { TenantKeys } from './keys.ts';
import { auth0AuthorizationRules, auth0Prompts, loadFirstPartyGrant } from './first-party.ts';
import { END_SESSION_PATH, logoutPages } from './logout.ts';
import { RESPONSE_TYPES } from './response-types.ts';
import { clientBasedCORS } from './web-origins.ts';

/** An OpenID authorization request (scope `openid`) that carries a nonce. */
function openIdWithNonce(params: Record<string, unknown>): boolean {
  return typeof params.nonce === 'string' && params.nonce.length > 0 && typeof params.scope === 'string' && params.scope.split(' ').includes('openid');
}

/**
 * The tenant's OpenID issuer: its URL with a trailing slash, as Auth0's `https://TENANT.auth0.com/`
 * (Auth0's SDKs compare `iss` with exactly that). Endpoints are still built on the URL without it.
 */
export function issuerOf(tenantUrl: string): string {
  return `${tenantUrl.replace(/\/+$/, '')}/`;
}

export function managementAudience(tenantUrl: string): string {
  return `${tenantUrl}/api/v2/`;
}

/**
 * The Management API scopes a token may carry, by whom it acts for. A client-credentials token
 * acts for the client itself: the scopes the client was granted. Every other grant (an
 * authorization code, a refresh token, any grant added later) yields a token that acts for the
 * person who signed in, whatever the client may do as a machine: only the person's own scopes,
 * as at Auth0. oidc-provider then narrows these to what the request asked for and the grant holds.
 */
function managementScopesFor(ctx: KoaContextWithOIDC, client: { metadata(): Record<string, unknown> }): readonly string[] {
  const forTheClient = ctx.oidc.route === 'token' && ctx.oidc.params?.grant_type === 'client_credentials';
  if (!forTheClient) return USER_SCOPES;
  return String(client.metadata().management_scopes ?? '')
    .split(' ')
    .filter((s) => (MANAGEMENT_SCOPES as readonly string[]).includes(s));
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * oidc-provider refuses http and localhost callbacks for clients of the implicit flow; Auth0
 * accepts them, and samples run on http://localhost:3000. Outside production, a client whose
 * every http or localhost callback is a loopback address passes those two checks (its codes are
 * oidc-provider's, see Client.Schema#redirectUris); every other check still applies.
 */
function allowLoopbackImplicitCallbacks(provider: Provider, env: TenantConfig['env']): void {
  if (env === 'production') return;
  const schema = (provider.Client as unknown as { Schema: { prototype: { invalidate(message: string, code?: string): void } } }).Schema.prototype;
  const invalidate = schema.invalidate;
  schema.invalidate = function invalidateUnlessLoopback(
    this: { redirect_uris?: string[]; post_logout_redirect_uris?: string[] },
    message: string,
    code?: string,
  ) {
    if (code === 'implicit-force-https' || code === 'implicit-forbid-localhost') {
      const uris = [...(this.redirect_uris ?? []), ...(this.post_logout_redirect_uris ?? [])].map((uri) => new URL(uri));
      const onlyLoopback = uris.filter((u) => u.protocol === 'http:' || u.hostname === 'localhost').every((u) => LOOPBACK_HOSTS.has(u.hostname));
      if (onlyLoopback) return;
    }
    invalidate.call(this, message, code);
  };
}

const errorView = fileURLToPath(new URL('../../../views/tenant/error.ejs', import.meta.url));

/**
 * The tenant's OpenID Provider: sign-in (code flow, the login interactions of the connections),
 * tokens (the Management API's client-credentials tokens among them), logout, and the
 * published discovery and keys. Its state lives in the tenant's database (adapter.ts).
 */
export function createOidcProvider(options: {
  config: TenantConfig;
  database: Database;
  keys: TenantKeys;
  clients: ClientRegistry;
  directory: Directory;
  backchannelLogout: BackchannelLogout;
}): Provider {
  const { config, database, keys, clients, directory, backchannelLogout } = options;
  const audience = managementAudience(config.url);
  const shownProfile = profileDefaults(config.url);
  const crossSiteCookies = config.url.startsWith('https:');

  const configuration: Configuration = {
    adapter: createAdapterFactory(database, clients),
    jwks: { keys: keys.signing },
    // Over https the session and interaction cookies are `SameSite=None; Secure`, as Auth0's: a
    // single-page app's silent sign-in runs the tenant in a hidden cross-site iframe, which
    // carries no Lax cookie. Browsers refuse None without Secure, so plain http keeps Lax. The
    // tenant's forms do not rest on SameSite: each carries its own CSRF token.
    cookies: {
      keys: cookieSigner(keys.cookies),
      long: { httpOnly: true, sameSite: crossSiteCookies ? 'none' : 'lax' },
      short: { httpOnly: true, sameSite: crossSiteCookies ? 'none' : 'lax' },
    },
    routes: {
      authorization: '/authorize',
      token: '/oauth/token',
      userinfo: '/userinfo',
      jwks: '/.well-known/jwks.json',
      end_session: END_SESSION_PATH,
      revocation: '/oauth/revoke',
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'nickname', 'picture', 'updated_at'],
    },
    // Auth0's response types (all but a bare `token`, see response-types.ts); each client gets
    // those of its grants (ClientRegistry.asOidcMetadata). oidc-provider requires a nonce
    // wherever an id_token comes from /authorize.
    responseTypes: [...RESPONSE_TYPES],
    // As Auth0: the id_token carries the profile and email claims the scopes asked for, even
    // when an access token for /userinfo is issued alongside it.
    conformIdTokenClaims: false,
    // Auth0's `connection` parameter picks the sign-in method; its `audience` names the API of
    // the access token (defaultResource below). audience's validator carries the Auth0 rules of
    // every authorization request (first-party.ts).
    extraParams: { connection: null, audience: auth0AuthorizationRules },
    // Accord's clients are first-party: no consent step (first-party.ts).
    loadExistingGrant: loadFirstPartyGrant,
    // Public clients always. A confidential client's plain code flow too, unless it is an
    // OpenID request with a nonce: the id_token the client redeems the code for (with its
    // secret) carries that nonce, which binds the code to the browser that asked for it (RFC
    // 9700 2.1.1); Auth0's regular web app SDKs (passport-auth0) sign in so, without PKCE. Its
    // hybrid flows (express-openid-connect 1.x) go without likewise: nonce and c_hash.
    pkce: {
      required: (ctx, client) => client.clientAuthMethod === 'none' || (ctx.oidc.params?.response_type === 'code' && !openIdWithNonce(ctx.oidc.params)),
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    // As Auth0's /userinfo: `?access_token=` too, which passport-auth0 sends (through node-oauth's
    // GET). The tenant logs paths only, never query strings.
    acceptQueryParamAccessTokens: true,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      // Auth0's `response_mode=web_message` (a popup's or iframe's answer by postMessage).
      webMessageResponseMode: { enabled: true, ack: 'individual-draft-01' },
      // Clients register post_logout_redirect_uris (ClientRegistry); Auth0's /v2/logout hands over here.
      rpInitiatedLogout: { enabled: true, ...logoutPages({ tenantName: config.name, directory, allowedLogoutUrls: config.allowedLogoutUrls ?? [] }) },
      // Clients register a backchannel_logout_uri (ClientRegistry); sign-out tells each client of
      // the ended session (below), and the tenant's own revocations tell every client (AccountSessions).
      backchannelLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Auth0 clients name the API with `audience`, not RFC 8707's `resource`: at /authorize (an
        // extra parameter there) and at the token endpoint. Only a client-credentials request
        // defaults to the Management API: a user's sign-in without an audience gets an access
        // token for /userinfo, as at Auth0.
        defaultResource: (ctx) =>
          (ctx.oidc.params?.audience as string | undefined) ??
          (ctx.oidc.body?.audience as string | undefined) ??
          (ctx.oidc.body?.grant_type === 'client_credentials' ? audience : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx, resourceIndicator, client) => {
          if (resourceIndicator !== audience) throw new errors.InvalidTarget(`unknown audience; the Management API is ${audience}`);
          return {
            scope: managementScopesFor(ctx, client).join(' '),
            audience,
            accessTokenTTL: config.managementTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // The Management API scopes granted to a client and its web origins (see ClientRegistry.asOidcMetadata).
    extraClientMetadata: { properties: ['management_scopes', 'web_origins'] },
    clientBasedCORS,
    // Lifetimes in seconds, close to Auth0's defaults (id_token 10 h, session 3 days idle).
    ttl: {
      ClientCredentials: config.managementTokenTtl,
      AccessToken: 86_400,
      AuthorizationCode: 60,
      IdToken: 36_000,
      Interaction: 3_600,
      Session: 3 * 86_400,
      Grant: 14 * 86_400,
      RefreshToken: 30 * 86_400,
    },
    extraTokenClaims: (_ctx, token) => ({ azp: token.clientId, gty: token.kind === 'ClientCredentials' ? 'client-credentials' : undefined }),
    interactions: { url: (_ctx, interaction) => `/login/${interaction.uid}`, policy: auth0Prompts() },
    findAccount: async (_ctx, sub) => {
      const found = await directory.findUser(sub);
      if (!found) return undefined;
      const user = shownProfile(found);
      return {
        accountId: user.user_id,
        claims: () => ({
          sub: user.user_id,
          email: user.email,
          email_verified: user.email_verified,
          name: user.name,
          given_name: user.given_name,
          family_name: user.family_name,
          nickname: user.nickname,
          picture: user.picture,
          updated_at: Math.floor(Date.parse(user.updated_at) / 1000),
        }),
      };
    },
    renderError: async (ctx: KoaContextWithOIDC, out, error) => {
      const unavailable = isDependencyError(error);
      if (unavailable) {
        ctx.status = 503;
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      }
      const page = unavailable
        ? { error: 'temporarily_unavailable', description: UNAVAILABLE_PAGE.message, title: UNAVAILABLE_PAGE.title }
        : {
            error: String(out.error),
            description: String(out.error_description ?? out.error),
            title: ctx.oidc?.route?.startsWith('end_session') ? 'We could not sign you out' : undefined,
          };
      try {
        ctx.body = await ejs.renderFile(errorView, { tenantName: config.name, ...page });
        ctx.type = 'html';
      } catch {
        // A page that cannot be rendered must not turn into Koa's default answer: the words go out as text.
        ctx.type = 'text';
        ctx.body = `${page.title ?? 'We could not complete the sign-in'}\n\n${page.description}\n`;
      }
    },
  };

  const provider = new Provider(issuerOf(config.url), configuration);
  // The scheme it sees is TENANT_URL's: publishAtTenantUrl sets Host and X-Forwarded-Proto from
  // it on every request, replacing whatever the client or a proxy sent.
  provider.proxy = true;
  // Secrets are stored hashed; compare the hash of what the client presents.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return this.clientSecret !== undefined && clientSecretMatches(this.clientSecret, actual);
  };
  allowLoopbackImplicitCallbacks(provider, config.env);
  // oidc-provider sends a sign-out's logout tokens itself, once, while the browser waits (and
  // refuses private addresses, where an app next to its tenant lives). They go through the
  // tenant's one delivery instead: in the background, with retries.
  provider.Client.prototype.backchannelLogout = async function sendThroughTenant(
    this: { clientId: string; backchannelLogoutUri?: string },
    sub: string,
    sid: string,
  ) {
    if (this.backchannelLogoutUri) backchannelLogout.sessionEnded({ client_id: this.clientId, backchannel_logout_uri: this.backchannelLogoutUri }, sub, sid);
  };
  return provider;
}
