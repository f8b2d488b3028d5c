import assert from 'node:assert/strict';
import { createHmac, randomInt } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { SignJWT, importJWK, type JWTPayload } from 'jose';
import type supertest from 'supertest';
import type { Actor } from '../../src/tenant/directory/audit.ts';
import type { CreateUserInput } from '../../src/tenant/directory/directory.ts';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';
import { after, before } from 'node:test';
import { withProfileDefaults } from '../../src/tenant/avatars.ts';
import { MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import type { TestDatabase } from './databases.ts';
import { assertDirectoryInvariant } from './invariants.ts';
import { startTestTenant, TEST_AUDIENCE, TEST_ISSUER, type TestTenant } from './tenant.ts';
import { uniqueEmail } from './unique-email.ts';

/** Shared helpers of the Management API route tests (test/tenant/management-*.test.ts). */

export const TEST_ACTOR: Actor = { id: 'test' };
export const STRONG_PASSWORD = 'Correct-Horse-9';

/** A Google-style numeric subject, small enough to survive as a JSON number. */
export function uniqueSub(): string {
  return `1150${String(randomInt(100_000_000, 999_999_999))}`;
}

export const enc = encodeURIComponent;

export interface ApiClient {
  token: string;
  clientId: string;
}

/** A client-credentials token from POST /oauth/token plus the client id it was issued to (its azp). */
export async function apiClient(t: TestTenant, scopes?: readonly string[]): Promise<ApiClient> {
  const token = await t.token(scopes);
  return { token, clientId: t.lastClientId() };
}

/** Requests to /api/v2 with a bearer token. */
export function api(t: TestTenant, token: string) {
  const auth = (test: supertest.Test) => test.set('authorization', `Bearer ${token}`);
  return {
    get: (path: string) => auth(t.request.get(`/api/v2${path}`)),
    post: (path: string, body: object | string) => auth(t.request.post(`/api/v2${path}`)).send(body),
    patch: (path: string, body: object | string) => auth(t.request.patch(`/api/v2${path}`)).send(body),
    delete: (path: string) => auth(t.request.delete(`/api/v2${path}`)),
  };
}

/** A passwordless (`email` connection) user: no argon2 cost. As the Management API shows it (with Auth0's profile defaults). */
export async function createEmailUser(t: TestTenant, input: Partial<CreateUserInput> = {}): Promise<UserProfile> {
  const user = await t.tenant.directory.createUser({ connection: 'email', email: uniqueEmail('pwl'), email_verified: true, ...input }, TEST_ACTOR);
  return withProfileDefaults(user, t.tenant.config.url);
}

/** A google-oauth2 user, as the login pipeline creates them (the API refuses to), as the Management API shows it. */
export async function createSocialUser(
  t: TestTenant,
  input: {
    sub?: string;
    email?: string;
    email_verified?: boolean;
    name?: string;
    user_metadata?: Record<string, unknown>;
    app_metadata?: Record<string, unknown>;
  } = {},
): Promise<UserProfile> {
  const user = await t.tenant.directory.createFederatedUser(
    {
      connection: 'google-oauth2',
      sub: input.sub ?? uniqueSub(),
      email: input.email ?? uniqueEmail('social', 'gmail.com'),
      email_verified: input.email_verified ?? true,
      name: input.name,
      user_metadata: input.user_metadata,
      app_metadata: input.app_metadata,
    },
    TEST_ACTOR,
  );
  return withProfileDefaults(user, t.tenant.config.url);
}

const b64url = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A JWT built by hand: `alg:none` (empty signature) or HS256 with the given secret. */
export function handMadeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, hmacSecret?: string | Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = hmacSecret === undefined ? '' : createHmac('sha256', hmacSecret).update(input).digest('base64url');
  return `${input}.${signature}`;
}

/** Standard claims of a token for this tenant, lasting 5 minutes. */
export function claimsFor(sub: string, audience: string, extra: JWTPayload = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: TEST_ISSUER, aud: audience, sub, iat: now, exp: now + 300, ...extra };
}

/** Signs `claims` with the tenant's own signing key (for crafted-but-validly-signed tokens). */
export async function signWithTenantKey(t: TestTenant, claims: JWTPayload): Promise<string> {
  const key = t.tenant.keys.signing[0]!;
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' }).sign(await importJWK(key, 'RS256'));
}

export const MANAGEMENT_AUDIENCE = TEST_AUDIENCE;

/**
 * Asserts Auth0's error body `{statusCode, error, message, errorCode}` (nothing else), the
 * status, the code and, when given, the message; and that no stack trace leaks.
 */
export function assertAuth0Error(res: supertest.Response, status: number, errorCode: string, message?: string | RegExp): void {
  const context = `${res.status} ${JSON.stringify(res.body)}`;
  assert.equal(res.status, status, context);
  assert.match(String(res.headers['content-type']), /^application\/json/, context);
  assert.deepEqual(Object.keys(res.body as object).sort(), ['error', 'errorCode', 'message', 'statusCode'], context);
  assert.equal(res.body.statusCode, status, context);
  assert.equal(res.body.error, STATUS_CODES[status], context);
  assert.equal(res.body.errorCode, errorCode, context);
  assert.equal(typeof res.body.message, 'string', context);
  if (typeof message === 'string') assert.equal(res.body.message, message, context);
  else if (message) assert.match(res.body.message, message, context);
  assertNoStackTrace(res);
}

export function assertNoStackTrace(res: supertest.Response): void {
  assert.ok(res.status < 500, `server error: ${res.status} ${res.text}`);
  assert.doesNotMatch(res.text, /\n\s+at |\bat (async )?[\w.<>]+ \(|node_modules|\.ts:\d+|\.js:\d+|"stack"/, `stack trace in body: ${res.text}`);
}

export interface ManagementSuite {
  t: TestTenant;
  /** A client with every Management API scope, and one with read:users only. */
  admin: ApiClient;
  reader: ApiClient;
  /** Requests as `admin`. */
  a: ReturnType<typeof api>;
}

/** Registers a suite's hooks: a tenant on a fresh `db` with two API clients; after, the invariant is checked and all closed. */
export function managementSuite(db: TestDatabase, onStart: (started: ManagementSuite) => void): void {
  let started: (ManagementSuite & { cleanup: () => Promise<void> }) | undefined;
  before(async () => {
    const opened = await db.open();
    const t = await startTestTenant(opened.database);
    const admin = await apiClient(t, MANAGEMENT_SCOPES);
    started = { t, admin, reader: await apiClient(t, ['read:users']), a: api(t, admin.token), cleanup: opened.cleanup };
    onStart(started);
  });
  after(async () => {
    if (!started) return;
    await assertDirectoryInvariant(started.t.tenant.database);
    await started.t.close();
    await started.cleanup();
  });
}
