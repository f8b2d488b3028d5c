/**
 * The floor under the sign-in benchmark (bench/logins.ts): oidc-provider by itself, in its own
 * process, doing the OpenID Connect part of a sign-in and nothing else. The same package and
 * settings that matter (Auth0's paths, code flow with PKCE, RS256 id_tokens, the profile and
 * email claims, a grant for a first-party client), and a sign-in "page" that signs a new
 * account in at once: no connection, form, CSRF check, code, mail, user directory or upstream
 * IdP. FLOOR_STORAGE picks where oidc-provider keeps its state: `memory` (its development
 * store, the package alone) or `database` (the tenant's adapter on SQLite, as the tenant does).
 *
 * Its round trip: GET /authorize → GET /login/<uid> (done at once) → GET /authorize/<uid> →
 * the code at the redirect_uri → POST /oauth/token → GET /userinfo. No sign-in through the
 * tenant can be faster than this on the same machine. Listens on a free port on 127.0.0.1 and
 * prints `READY {"url","rp":{…}}`.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { openTenantDatabase } from '../src/tenant/tenant-database.ts';
import { migrateTenant } from '../src/tenant/migrations/tenant-migrations.ts';
import type { ClientRegistry } from '../src/tenant/clients/client-registry.ts';
import { createAdapterFactory } from '../src/tenant/oidc/adapter.ts';
import { BENCH_REDIRECT_URI, stopWithParent } from './support.ts';

const storage = process.env.FLOOR_STORAGE ?? 'memory';
if (storage !== 'memory' && storage !== 'database') throw new Error(`FLOOR_STORAGE must be memory or database, not ${storage}`);
const dataDir = mkdtempSync(join(tmpdir(), 'accord-oidc-floor-'));
// `database`: the tenant's own oidc-provider storage on SQLite, which the issue asks for (state
// that survives a restart). The one client is static, so the registry is never asked.
const database = storage === 'database' ? openTenantDatabase({ sqliteFile: join(dataDir, 'floor.sqlite') }) : undefined;
if (database) await migrateTenant(database);
const noRegisteredClients = { asOidcMetadata: async () => undefined } as unknown as ClientRegistry;

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const rp = { clientId: 'floor-rp', clientSecret: randomBytes(32).toString('base64url'), redirectUri: BENCH_REDIRECT_URI };
const signing = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'floor', alg: 'RS256', use: 'sig' };

const provider = new Provider(url, {
  ...(database ? { adapter: createAdapterFactory(database, noRegisteredClients) } : {}),
  clients: [
    {
      client_id: rp.clientId,
      client_secret: rp.clientSecret,
      redirect_uris: [rp.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signing as never] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  routes: { authorization: '/authorize', token: '/oauth/token', userinfo: '/userinfo', jwks: '/.well-known/jwks.json' },
  scopes: ['openid', 'profile', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture', 'updated_at'] },
  responseTypes: ['code'],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/login/${interaction.uid}` },
  // First-party: no consent step, as at the tenant.
  loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
    const { client, session, provider: p } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const grant = new p.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: `${sub}@floor.example`, email_verified: true, name: 'Floor User', updated_at: Math.floor(Date.now() / 1000) }),
  }),
});
provider.proxy = true;

const oidc = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && req.url?.startsWith('/login/')) {
    // The whole sign-in page: a new account, signed in at once.
    provider
      .interactionFinished(req, res, { login: { accountId: `floor|${randomBytes(9).toString('base64url')}` } }, { mergeWithLastSubmission: false })
      .catch(() => {
        if (!res.headersSent) {
          res.statusCode = 400;
          res.end('no such sign-in');
        }
      });
    return;
  }
  oidc(req, res);
});
server.keepAliveTimeout = 60_000;
process.stdout.write(`READY ${JSON.stringify({ url, rp })}\n`);

// Spawned by bench/logins.ts, which holds our stdin.
stopWithParent(server, { close: () => database?.close(), dataDir, onStdinEnd: true });
