import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { SignJWT, importJWK } from 'jose';
import supertest from 'supertest';
import type { TenantConfig } from '../../src/tenant/tenant-config.ts';
import type { ConnectionConfig } from '../../src/tenant/connections.ts';
import { defaultConnections } from '../../src/tenant/connections.ts';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { createLogger, type Logger } from '../../src/platform/logger.ts';
import { createTenant, type Tenant } from '../../src/tenant/tenant.ts';
import { MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';

export const TEST_ISSUER = 'http://127.0.0.1:4999';
export const TEST_AUDIENCE = `${TEST_ISSUER}/api/v2/`;

/** A generic OIDC connection (no real upstream is contacted in these tests). */
export const SOCIAL_CONNECTION: ConnectionConfig = {
  name: 'google-oauth2',
  strategy: 'oidc',
  provider: 'google-oauth2',
  issuer: 'https://accounts.google.com',
  client_id: 'test-client',
  client_secret: 'test-secret',
  scopes: 'openid email profile',
  trust_email_verified: true,
  linking: 'suggest',
};

export function testConfig(overrides: Partial<TenantConfig> = {}): TenantConfig {
  return {
    env: 'test',
    host: '127.0.0.1',
    port: 0,
    url: TEST_ISSUER,
    name: 'Accord Test',
    databaseUrl: undefined,
    sqliteFile: ':memory:',
    dataDir: '/tmp',
    logLevel: 'silent',
    managementTokenTtl: 3600,
    managementRateLimitPerMinute: 100_000,
    connections: [...defaultConnections(), SOCIAL_CONNECTION],
    mail: { transport: 'outbox', smtpUrl: undefined, from: 'Accord Test <no-reply@127.0.0.1>' },
    demoIdp: true,
    trustProxy: false,
    ...overrides,
  };
}

export interface TestTenant {
  tenant: Tenant;
  request: ReturnType<typeof supertest>;
  /** A real client-credentials token from POST /oauth/token with exactly these scopes. */
  token(scopes?: readonly string[]): Promise<string>;
  /** Client id of the last client `token()` created (the token's azp). */
  lastClientId(): string;
  /** A user access token signed by the tenant's key, as the login flow will issue them. */
  userToken(sub: string, scopes: string[], options?: { clientId?: string }): Promise<string>;
  /** An id_token for `sub`, signed by the tenant (or with overrides for attacks). */
  idToken(sub: string, clientId: string, overrides?: { iss?: string; aud?: string; expSecondsFromNow?: number }): Promise<string>;
  close(): Promise<void>;
}

export async function startTestTenant(database: Database, overrides: Partial<TenantConfig> = {}, options: { logger?: Logger } = {}): Promise<TestTenant> {
  const tenant = await createTenant({ config: testConfig(overrides), logger: options.logger ?? createLogger('silent'), database });
  const request = supertest(tenant.app);
  const key = tenant.keys.signing[0]!;
  const privateKey = await importJWK(key, 'RS256');
  let clientId = '';

  const sign = (claims: Record<string, unknown>, expSecondsFromNow = 300) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expSecondsFromNow)
      .sign(privateKey);

  return {
    tenant,
    request,
    async token(scopes = MANAGEMENT_SCOPES) {
      const client = await tenant.clients.create({ name: `test-${randomBytes(3).toString('hex')}`, grantTypes: ['client_credentials'], scopes: [...scopes] });
      clientId = client.client_id;
      const res = await request.post('/oauth/token').type('form').send({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
        audience: TEST_AUDIENCE,
      });
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.access_token as string;
    },
    lastClientId: () => clientId,
    userToken(sub, scopes, options = {}) {
      const azp = options.clientId ?? 'app-client';
      return sign({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub, azp, client_id: azp, scope: scopes.join(' ') });
    },
    idToken(sub, audience, overrides = {}) {
      return sign({ iss: overrides.iss ?? TEST_ISSUER, aud: overrides.aud ?? audience, sub, nonce: 'n' }, overrides.expSecondsFromNow ?? 300);
    },
    close: () => tenant.close(),
  };
}

/** Listens on 127.0.0.1 with a free port, for tests that need real concurrent connections. */
export async function listen(tenant: Tenant): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = await new Promise<Server>((resolve) => {
    const s = tenant.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
