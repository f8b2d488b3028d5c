import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { after, before } from 'node:test';
import supertest from 'supertest';
import type { TenantConfig } from '../../src/tenant/tenant-config.ts';
import type { TestDatabase } from './databases.ts';
import { csrfTokenOf } from './html-forms.ts';
import { startTestTenant, type TestTenant } from './tenant.ts';
import type { Tenant } from '../../src/tenant/tenant.ts';

export const RP_REDIRECT_URI = 'http://127.0.0.1:3999/callback';

export interface RelyingParty {
  clientId: string;
  clientSecret: string;
}

/** A first-party web app registered on the tenant (code flow + PKCE), as Accord's app will be. */
export async function registerRelyingParty(tenant: Tenant, options: { postLogoutRedirectUris?: string[] } = {}): Promise<RelyingParty> {
  const client = await tenant.clients.create({
    name: `rp-${randomBytes(3).toString('hex')}`,
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: [],
    redirectUris: [RP_REDIRECT_URI],
    postLogoutRedirectUris: options.postLogoutRedirectUris,
  });
  return { clientId: client.client_id, clientSecret: client.client_secret };
}

export type Browser = ReturnType<typeof supertest.agent>;

/** A browser: a cookie jar on one origin, the tenant in-process or a server's URL (see WebBrowser for several). */
export function browser(origin: Tenant | string): Browser {
  return supertest.agent(typeof origin === 'string' ? origin : origin.app);
}

export interface Authorization {
  /** Path of the chooser (`/login/<uid>`). */
  loginPath: string;
  /** Where the authorization sent the browser: the chooser, or the page of the connection it names. */
  firstPath: string;
  uid: string;
  state: string;
  nonce: string;
  verifier: string;
}

/** Starts an authorization request (code + PKCE + nonce) and returns where the tenant sends the browser. */
export async function authorize(agent: Browser, rp: RelyingParty, extra: Record<string, string> = {}): Promise<Authorization> {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const res = await agent.get('/authorize').query({
    client_id: rp.clientId,
    response_type: 'code',
    redirect_uri: RP_REDIRECT_URI,
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  });
  assert.equal(res.status, 303, `authorize: ${res.status} ${res.text.slice(0, 300)}`);
  const firstPath = new URL(res.headers.location!, 'http://tenant').pathname;
  const uid = /^\/login\/([^/]+)(?:\/[^/]+)?$/.exec(firstPath)?.[1];
  assert.ok(uid, `authorize redirected to ${res.headers.location}`);
  return { loginPath: `/login/${uid}`, firstPath, uid, state, nonce, verifier };
}

/**
 * Follows the tenant's redirects from `location` until the browser reaches the RP's
 * redirect_uri; returns the callback's query (code, state, iss, or error).
 */
export async function followToCallback(agent: Browser, location: string): Promise<URLSearchParams> {
  let next = location;
  for (let hops = 0; hops < 10; hops++) {
    if (next.startsWith(RP_REDIRECT_URI)) return new URL(next).searchParams;
    const url = new URL(next, 'http://tenant');
    const res = await agent.get(url.pathname + url.search);
    assert.ok([302, 303].includes(res.status), `expected a redirect from ${url.pathname}, got ${res.status} ${res.text.slice(0, 300)}`);
    next = res.headers.location!;
  }
  throw new Error('too many redirects');
}

export interface Tokens {
  access_token: string;
  id_token: string;
  claims: ReturnType<typeof decodeJwt>;
}

/** Exchanges the code at /oauth/token as the RP's back end would. */
export async function exchangeCode(tenant: Tenant, rp: RelyingParty, auth: Authorization, callback: URLSearchParams): Promise<Tokens> {
  assert.equal(callback.get('error'), null, `callback error: ${callback.get('error')} ${callback.get('error_description')}`);
  assert.equal(callback.get('state'), auth.state);
  const res = await supertest(tenant.app)
    .post('/oauth/token')
    .type('form')
    .auth(rp.clientId, rp.clientSecret)
    .send({ grant_type: 'authorization_code', code: callback.get('code'), redirect_uri: RP_REDIRECT_URI, code_verifier: auth.verifier });
  assert.equal(res.status, 200, `token: ${JSON.stringify(res.body)}`);
  const claims = decodeJwt(res.body.id_token);
  assert.equal(claims.nonce, auth.nonce);
  return { access_token: res.body.access_token, id_token: res.body.id_token, claims };
}

/** The `_csrf` hidden field of the page's form. */
export function csrfOf(html: string): string {
  const token = csrfTokenOf(html);
  assert.ok(token, 'the form carries a CSRF token');
  return token;
}

/**
 * Registers a suite's hooks: before, a tenant on a fresh `db` with a registered relying
 * party, handed to `onStart`; after, both closed.
 */
export function tenantPerSuite(db: TestDatabase, onStart: (started: { t: TestTenant; rp: RelyingParty }) => void, overrides: Partial<TenantConfig> = {}): void {
  let started: { t: TestTenant; rp: RelyingParty; cleanup: () => Promise<void> } | undefined;
  before(async () => {
    const opened = await db.open();
    const t = await startTestTenant(opened.database, overrides);
    started = { t, rp: await registerRelyingParty(t.tenant), cleanup: opened.cleanup };
    onStart(started);
  });
  after(async () => {
    await started?.t.close();
    await started?.cleanup();
  });
}
