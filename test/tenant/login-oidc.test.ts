import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import * as openidClient from 'openid-client';
import supertest from 'supertest';
import { defaultConnections, type ConnectionConfig } from '../../src/tenant/connections.ts';
import { demoSubject, memoryAdapter } from '../../src/tenant/connections/oidc/demo-idp.ts';
import { pkceChallenge, upstreamAuthTimeProblem, type UpstreamTransaction } from '../../src/tenant/connections/oidc/oidc-connection.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import { newSigningKey } from '../../src/tenant/oidc/keys.ts';
import { testDatabases } from '../helpers/databases.ts';
import {
  type Authorization,
  authorize,
  browser,
  type Browser,
  csrfOf,
  exchangeCode,
  followToCallback,
  registerRelyingParty,
  type RelyingParty,
  RP_REDIRECT_URI,
  tenantPerSuite,
  type Tokens,
} from '../helpers/login-flow.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTenant } from '../../src/tenant/tenant.ts';
import { startTestTenant, TEST_ISSUER, testConfig, type TestTenant } from '../helpers/tenant.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

const PASSWORD = 'correct horse battery staple 42';

interface DemoPerson {
  email: string;
  name?: string;
  verified?: boolean;
}

/** Follows redirects on the tenant until the RP's redirect_uri or a page; returns whichever came first. */
async function followUntilPage(agent: Browser, location: string): Promise<{ callback?: URLSearchParams; page?: supertest.Response }> {
  let next = location;
  for (let hops = 0; hops < 12; hops++) {
    if (next.startsWith(RP_REDIRECT_URI)) return { callback: new URL(next).searchParams };
    const url = new URL(next, 'http://tenant');
    const res = await agent.get(url.pathname + url.search);
    if (![302, 303].includes(res.status)) return { page: res };
    next = res.headers.location!;
  }
  throw new Error('too many redirects');
}

/** Authorization request → tenant → demo IdP; returns where the demo IdP sent the browser. */
async function toDemoIdp(agent: Browser, rp: RelyingParty, extra: Record<string, string> = {}): Promise<{ auth: Authorization; upstream: URL; next: string }> {
  const auth = await authorize(agent, rp, { connection: 'demo-social', ...extra });
  const chooser = await agent.get(auth.loginPath);
  assert.equal(chooser.status, 303);
  assert.equal(chooser.headers.location, `/login/${auth.uid}/demo-social`);
  const start = await agent.get(chooser.headers.location!);
  assert.equal(start.status, 303, start.text.slice(0, 300));
  const upstream = new URL(start.headers.location!);
  assert.equal(`${upstream.origin}${upstream.pathname}`, `${TEST_ISSUER}/demo-idp/auth`);
  const atIdp = await agent.get(upstream.pathname + upstream.search);
  assert.ok([302, 303].includes(atIdp.status), `demo IdP: ${atIdp.status} ${atIdp.text.slice(0, 300)}`);
  return { auth, upstream, next: atIdp.headers.location! };
}

/** Fills in the demo IdP's form; returns the redirect that follows. */
async function submitDemoForm(agent: Browser, formPath: string, person: DemoPerson): Promise<string> {
  const page = await agent.get(formPath);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const form: Record<string, string> = { _csrf: csrfOf(page.text), action: 'login', email: person.email, name: person.name ?? 'Ada Lovelace' };
  if (person.verified ?? true) form.email_verified = 'on';
  const res = await agent.post(formPath).type('form').send(form);
  assert.equal(res.status, 303, res.text.slice(0, 300));
  return res.headers.location!;
}

async function demoSignIn(t: TestTenant, rp: RelyingParty, person: DemoPerson, agent = browser(t.tenant), extra: Record<string, string> = {}): Promise<Tokens> {
  const { auth, next } = await toDemoIdp(agent, rp, extra);
  const callback = await followToCallback(agent, await submitDemoForm(agent, next, person));
  return exchangeCode(t.tenant, rp, auth, callback);
}

/** Signs in through the demo IdP expecting the tenant to refuse with a page. */
async function demoSignInRefused(t: TestTenant, rp: RelyingParty, person: DemoPerson): Promise<supertest.Response> {
  const agent = browser(t.tenant);
  const { next } = await toDemoIdp(agent, rp);
  const outcome = await followUntilPage(agent, await submitDemoForm(agent, next, person));
  assert.ok(outcome.page, `expected a refusal page, the client got ${outcome.callback}`);
  return outcome.page;
}

async function databaseUser(t: TestTenant, email: string, emailVerified = true) {
  return t.tenant.directory.createUser(
    { connection: 'Username-Password-Authentication', email, email_verified: emailVerified, password: PASSWORD },
    SYSTEM_ACTOR,
  );
}

/** demo-social with automatic linking on (the demo IdP fills in issuer and client). */
const DEMO_AUTO: ConnectionConfig = {
  name: 'demo-social',
  strategy: 'oidc',
  provider: 'demo-social',
  issuer: 'https://replaced.invalid',
  client_id: 'replaced',
  scopes: 'openid email profile',
  trust_email_verified: true,
  linking: 'auto',
};

for (const db of testDatabases()) {
  describe(`upstream OIDC login through the demo IdP [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(db, (started) => {
      ({ t, rp } = started);
    });

    it('publishes its own issuer and keys, apart from the tenant', async () => {
      const res = await t.request.get('/demo-idp/.well-known/openid-configuration').set('Host', new URL(TEST_ISSUER).host);
      assert.equal(res.status, 200);
      assert.equal(res.body.issuer, `${TEST_ISSUER}/demo-idp`);
      assert.equal(res.body.token_endpoint, `${TEST_ISSUER}/demo-idp/token`);
      const [idp, tenant] = await Promise.all([t.request.get('/demo-idp/jwks'), t.request.get('/.well-known/jwks.json')]);
      assert.equal(idp.status, 200);
      assert.notEqual(idp.body.keys[0].kid, tenant.body.keys[0].kid);
      assert.equal(idp.body.keys[0].d, undefined, 'no private key material is published');
      // Persisted: another tenant process on the same database signs with the same key.
      const restarted = await createTenant({ config: testConfig(), logger: createLogger('silent'), database: t.tenant.database });
      const again = await supertest(restarted.app).get('/demo-idp/jwks');
      assert.equal(again.body.keys[0].kid, idp.body.keys[0].kid);
    });

    it('is not offered when the demo IdP is off', async () => {
      const off = await createTenant({ config: testConfig({ demoIdp: false }), logger: createLogger('silent'), database: t.tenant.database });
      assert.equal(off.directory.connections.byName('demo-social'), undefined);
      assert.equal((await supertest(off.app).get('/demo-idp/.well-known/openid-configuration')).status, 404);
    });

    it('creates demo-social|<sub> on the first sign-in, email_verified as ticked, and finds the same user the next time', async () => {
      const email = uniqueEmail('ada');
      const first = await demoSignIn(t, rp, { email, name: 'Ada Lovelace', verified: true });
      const userId = `demo-social|${demoSubject(email)}`;
      assert.equal(first.claims.sub, userId);
      assert.equal(first.claims.amr, undefined, 'amr is not requested');
      const user = await t.tenant.directory.getUser(userId);
      assert.equal(user.email, email);
      assert.equal(user.email_verified, true);
      assert.equal(user.name, 'Ada Lovelace');
      assert.deepEqual(
        user.identities.map((i) => [i.provider, i.user_id, i.connection, i.isSocial]),
        [['demo-social', demoSubject(email), 'demo-social', true]],
      );

      // Another browser, the same email at the demo IdP: the same account, the same user.
      const second = await demoSignIn(t, rp, { email: email.toUpperCase(), name: 'Ada' });
      assert.equal(second.claims.sub, userId);
      assert.equal((await t.tenant.directory.getUser(userId)).logins_count, 2);
    });

    it('keeps email_verified false when the box is not ticked', async () => {
      const email = uniqueEmail('unticked');
      const tokens = await demoSignIn(t, rp, { email, verified: false });
      const user = await t.tenant.directory.getUser(String(tokens.claims.sub));
      assert.equal(user.email, email);
      assert.equal(user.email_verified, false);
    });

    it('goes straight to the upstream for connection=demo-social, with PKCE, state and nonce, and passes login_hint through', async () => {
      const agent = browser(t.tenant);
      const { upstream, next } = await toDemoIdp(agent, rp, { login_hint: 'grace@example.com' });
      const p = upstream.searchParams;
      assert.equal(p.get('response_type'), 'code');
      assert.equal(p.get('code_challenge_method'), 'S256');
      assert.ok(p.get('code_challenge') && p.get('nonce') && p.get('state'));
      assert.equal(p.get('redirect_uri'), `${TEST_ISSUER}/login/callback/demo-social`);
      assert.equal(p.get('login_hint'), 'grace@example.com');
      const page = await agent.get(next);
      assert.equal(page.status, 200);
      assert.match(page.text, /name="email" type="email"[^>]*value="grace@example.com"/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      // The transaction is kept server-side-sealed in a cookie scoped to this sign-in, not in the URL.
      assert.doesNotMatch(upstream.href, /code_verifier/);
    });

    it('prompt=login and max_age force a fresh login at the upstream, and auth_time is in the id_token', async () => {
      const agent = browser(t.tenant);
      const email = uniqueEmail('fresh');
      await demoSignIn(t, rp, { email }, agent);
      const startedAt = Math.floor(Date.now() / 1000);
      const { auth, upstream, next } = await toDemoIdp(agent, rp, { prompt: 'login', max_age: '60' });
      assert.equal(upstream.searchParams.get('prompt'), 'login');
      assert.equal(upstream.searchParams.get('max_age'), '60');
      // The demo IdP has a session in this browser, yet it asks again.
      assert.match(next, /^\/demo-idp\/interaction\//);
      const callback = await followToCallback(agent, await submitDemoForm(agent, next, { email }));
      const tokens = await exchangeCode(t.tenant, rp, auth, callback);
      assert.equal(tokens.claims.sub, `demo-social|${demoSubject(email)}`);
      assert.equal(typeof tokens.claims.auth_time, 'number');
      assert.ok((tokens.claims.auth_time as number) >= startedAt, 'auth_time is the fresh login');
    });

    it('prompt=login alone: the demo IdP asks again, and its auth_time proves it (docs/security.md case 38)', async () => {
      const agent = browser(t.tenant);
      const email = uniqueEmail('prompt-only');
      await demoSignIn(t, rp, { email }, agent);
      const { auth, upstream, next } = await toDemoIdp(agent, rp, { prompt: 'login' });
      assert.equal(upstream.searchParams.get('prompt'), 'login');
      assert.equal(upstream.searchParams.get('max_age'), '0', 'max_age=0 obliges the upstream to say when the person signed in');
      assert.match(next, /^\/demo-idp\/interaction\//, 'the demo IdP shows its form again');
      const callback = await followToCallback(agent, await submitDemoForm(agent, next, { email }));
      assert.equal((await exchangeCode(t.tenant, rp, auth, callback)).claims.sub, `demo-social|${demoSubject(email)}`);
    });

    it('max_age alone: a demo IdP session older than max_age is asked again (docs/security.md case 38)', async () => {
      const agent = browser(t.tenant);
      const email = uniqueEmail('max-age');
      await demoSignIn(t, rp, { email }, agent);
      // Both sessions (the tenant's and the demo IdP's) are now over a second old.
      await new Promise((resolve) => setTimeout(resolve, 2100));
      const { auth, upstream, next } = await toDemoIdp(agent, rp, { max_age: '1' });
      assert.equal(upstream.searchParams.get('prompt'), null);
      assert.equal(upstream.searchParams.get('max_age'), '1');
      assert.match(next, /^\/demo-idp\/interaction\//, 'the demo IdP shows its form again');
      const callback = await followToCallback(agent, await submitDemoForm(agent, next, { email }));
      const tokens = await exchangeCode(t.tenant, rp, auth, callback);
      assert.ok((tokens.claims.auth_time as number) >= Math.floor(Date.now() / 1000) - 5, 'a new sign-in');
    });

    it('explains a cancelled upstream sign-in in words, and lets the person choose again', async () => {
      const agent = browser(t.tenant);
      const { auth, next } = await toDemoIdp(agent, rp);
      const page = await agent.get(next);
      const cancelled = await agent
        .post(next)
        .type('form')
        .send({ _csrf: csrfOf(page.text), action: 'cancel' });
      assert.equal(cancelled.status, 303);
      const outcome = await followUntilPage(agent, cancelled.headers.location!);
      assert.equal(outcome.page?.status, 400);
      assert.match(outcome.page!.text, /Sign-in cancelled/);
      assert.match(outcome.page!.text, new RegExp(`href="/login/${auth.uid}"`));
    });

    it('explains an expired demo IdP page in words', async () => {
      const res = await t.request.get('/demo-idp/interaction/abcdefghijklmnopqrstu');
      assert.equal(res.status, 400);
      assert.match(res.text, /This sign-in has expired/);
    });

    it('refuses the demo IdP form, signing in or cancelling, once its interaction has expired, in words', async () => {
      for (const action of ['login', 'cancel']) {
        const agent = browser(t.tenant);
        const { next } = await toDemoIdp(agent, rp);
        const page = await agent.get(next);
        assert.equal(page.status, 200);
        const now = Date.now();
        // The demo IdP's interactions last 900 s.
        const clock = mock.method(Date, 'now', () => now + 901_000);
        try {
          const res = await agent
            .post(next)
            .type('form')
            .send({ _csrf: csrfOf(page.text), action, email: uniqueEmail('late'), email_verified: 'on' });
          assert.equal(res.status, 400, action);
          assert.match(res.text, /This sign-in has expired/);
        } finally {
          clock.mock.restore();
        }
      }
    });

    it('refuses a callback with a foreign or replayed state, in words', async () => {
      const garbage = await t.request.get('/login/callback/demo-social?code=x&state=nope');
      assert.equal(garbage.status, 400);
      assert.match(garbage.text, /does not belong to a sign-in in progress/);
      const unknown = await t.request.get('/login/callback/no-such-connection?code=x&state=abcdefghijkl.x');
      assert.equal(unknown.status, 400);

      // A real callback, replayed after it was used, and a forged state on a live sign-in.
      const agent = browser(t.tenant);
      const { auth, next } = await toDemoIdp(agent, rp);
      const afterForm = await submitDemoForm(agent, next, { email: uniqueEmail('replay') });
      const resumed = await agent.get(new URL(afterForm, 'http://tenant').pathname);
      const tenantCallback = new URL(resumed.headers.location!);
      assert.equal(tenantCallback.pathname, '/login/callback/demo-social');
      const forged = new URL(tenantCallback);
      forged.searchParams.set('state', `${auth.uid}.forged`);
      const refused = await followUntilPage(agent, forged.pathname + forged.search);
      assert.equal(refused.page?.status, 400);
      assert.match(refused.page!.text, /This sign-in has expired/);
      // The forged attempt used up the transaction: the genuine answer is refused too (single use).
      const stale = await followUntilPage(agent, tenantCallback.pathname + tenantCallback.search);
      assert.equal(stale.page?.status, 400);
      assert.match(stale.page!.text, /This sign-in has expired/);
    });

    it('does not link by email when the connection only suggests (the default): a separate user', async () => {
      const email = uniqueEmail('separate');
      const primary = await databaseUser(t, email);
      const tokens = await demoSignIn(t, rp, { email });
      assert.equal(tokens.claims.sub, `demo-social|${demoSubject(email)}`);
      assert.equal((await t.tenant.directory.getUser(primary.user_id)).identities.length, 1);
    });
  });

  describe(`automatic linking through an upstream login [${db.label}]`, () => {
    let t: TestTenant;
    let rp: RelyingParty;
    tenantPerSuite(
      db,
      (started) => {
        ({ t, rp } = started);
      },
      { connections: [...defaultConnections(), DEMO_AUTO] },
    );

    it('links a verified login into the one verified user with that email and signs in as the primary', async () => {
      const email = uniqueEmail('auto');
      const primary = await databaseUser(t, email);
      const tokens = await demoSignIn(t, rp, { email });
      assert.equal(tokens.claims.sub, primary.user_id);
      const merged = await t.tenant.directory.getUser(primary.user_id);
      assert.deepEqual(
        merged.identities.map((i) => i.provider),
        ['auth0', 'demo-social'],
      );
      assert.equal(await t.tenant.directory.findUser(`demo-social|${demoSubject(email)}`), undefined, "the secondary's old user_id is gone");
      // And the next sign-in through the linked identity is the primary again.
      const again = await demoSignIn(t, rp, { email });
      assert.equal(again.claims.sub, primary.user_id);
    });

    it('does not link an unverified login, nor into an unverified user', async () => {
      const email = uniqueEmail('unverified');
      const primary = await databaseUser(t, email);
      const unticked = await demoSignIn(t, rp, { email, verified: false });
      assert.notEqual(unticked.claims.sub, primary.user_id);

      const other = uniqueEmail('unverified-primary');
      const unverifiedPrimary = await databaseUser(t, other, false);
      const tokens = await demoSignIn(t, rp, { email: other });
      assert.notEqual(tokens.claims.sub, unverifiedPrimary.user_id);
    });

    it('does not link when two users are candidates', async () => {
      const email = uniqueEmail('two');
      await databaseUser(t, email);
      await t.tenant.directory.createUser({ connection: 'email', email, email_verified: true }, SYSTEM_ACTOR);
      const tokens = await demoSignIn(t, rp, { email });
      assert.equal(tokens.claims.sub, `demo-social|${demoSubject(email)}`);
    });

    it("revokes the secondary's sessions and grants when it is linked", async () => {
      const email = uniqueEmail('revoke');
      const secondaryId = `demo-social|${demoSubject(email)}`;
      const first = await demoSignIn(t, rp, { email });
      assert.equal(first.claims.sub, secondaryId, 'alone, the demo user is a user of its own');
      const held = () =>
        t.tenant.database.db
          .selectFrom('oidc_payloads')
          .select(['model', 'payload'])
          .execute()
          .then((rows) => rows.filter((r) => (JSON.parse(r.payload) as { accountId?: string }).accountId === secondaryId).map((r) => r.model));
      assert.ok((await held()).includes('Session'));
      assert.ok((await held()).includes('Grant'));
      const userinfo = await t.request.get('/userinfo').set('Authorization', `Bearer ${first.access_token}`);
      assert.equal(userinfo.status, 200);

      const primary = await databaseUser(t, email);
      const linked = await demoSignIn(t, rp, { email });
      assert.equal(linked.claims.sub, primary.user_id);
      assert.deepEqual(await held(), [], 'nothing the secondary held survives the link');
      const revoked = await t.request.get('/userinfo').set('Authorization', `Bearer ${first.access_token}`);
      assert.equal(revoked.status, 401, "the secondary's access token no longer works");
    });

    it('refuses a login through a linked identity when the primary is blocked (case 27)', async () => {
      const email = uniqueEmail('blocked');
      const primary = await databaseUser(t, email);
      assert.equal((await demoSignIn(t, rp, { email })).claims.sub, primary.user_id);
      await t.tenant.directory.updateUser(primary.user_id, { blocked: true }, SYSTEM_ACTOR);
      const page = await demoSignInRefused(t, rp, { email });
      assert.equal(page.status, 403);
      assert.match(page.text, /Account blocked/);
    });

    it('refuses auto-linking into a blocked user too', async () => {
      const email = uniqueEmail('blocked-target');
      const primary = await databaseUser(t, email);
      await t.tenant.directory.updateUser(primary.user_id, { blocked: true }, SYSTEM_ACTOR);
      const page = await demoSignInRefused(t, rp, { email });
      assert.equal(page.status, 403);
    });
  });

  describe(`email_verified from a generic upstream OpenID Provider [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let rp: RelyingParty;
    let upstream: TestUpstream;
    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      upstream = await startUpstream(['acme-trusted', 'acme-untrusted']);
      const generic = (name: string, trust: boolean): ConnectionConfig => ({
        name,
        strategy: 'oidc',
        provider: 'oidc',
        issuer: upstream.issuer,
        client_id: 'accord',
        client_secret: upstream.clientSecret,
        scopes: 'openid email profile',
        trust_email_verified: trust,
        linking: 'auto',
      });
      t = await startTestTenant(opened.database, { connections: [...defaultConnections(), generic('acme-trusted', true), generic('acme-untrusted', false)] });
      rp = await registerRelyingParty(t.tenant);
    });
    after(async () => {
      await t.close();
      await upstream.close();
      await cleanup();
    });

    /**
     * A sign-in through `connection` with these authorization parameters, the upstream signing in
     * a new account with `claims`: the request the tenant sent upstream, and where it ended.
     */
    async function upstreamRound(connection: string, claims: Record<string, unknown>, extra: Record<string, string> = {}) {
      const sub = `acme-${randomBytes(4).toString('hex')}`;
      upstream.next = { sub, ...claims };
      const agent = browser(t.tenant);
      const auth = await authorize(agent, rp, { connection, ...extra });
      const start = await agent.get(`/login/${auth.uid}/${connection}`);
      assert.equal(start.status, 303, start.text.slice(0, 300));
      assert.ok(start.headers.location!.startsWith(`${upstream.issuer}/auth?`));
      const request = new URL(start.headers.location!);
      // The upstream is another origin: another cookie jar, as in a real browser.
      const idp = browser(upstream.issuer);
      let next = start.headers.location!;
      while (next.startsWith(upstream.issuer)) {
        const res = await idp.get(next.slice(upstream.issuer.length));
        assert.ok([302, 303].includes(res.status), `upstream: ${res.status} ${res.text.slice(0, 300)}`);
        next = new URL(res.headers.location!, upstream.issuer).href;
      }
      assert.ok(next.startsWith(`${TEST_ISSUER}/login/callback/${connection}?`));
      return { sub, auth, agent, request, outcome: await followUntilPage(agent, next) };
    }

    async function signInUpstream(connection: string, claims: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Tokens> {
      const { sub, auth, outcome } = await upstreamRound(connection, claims, extra);
      assert.ok(outcome.callback, `expected the client's callback, got ${outcome.page?.status} ${outcome.page?.text.slice(0, 300)}`);
      const tokens = await exchangeCode(t.tenant, rp, auth, outcome.callback);
      assert.equal(tokens.claims.sub, `oidc|${connection}|${sub}`);
      return tokens;
    }

    const verifiedOf = async (tokens: Tokens) => (await t.tenant.directory.getUser(String(tokens.claims.sub))).email_verified;

    it('believes the boolean true from a trusted connection', async () => {
      const tokens = await signInUpstream('acme-trusted', { email: uniqueEmail('trusted'), email_verified: true, name: 'Trusted' });
      assert.equal(await verifiedOf(tokens), true);
      const user = await t.tenant.directory.getUser(String(tokens.claims.sub));
      assert.equal(user.identities[0]!.user_id, `acme-trusted|${String(tokens.claims.sub).split('|')[2]}`);
    });

    it('never believes an untrusted connection, even when the IdP says true (case 3)', async () => {
      const email = uniqueEmail('untrusted');
      const primary = await databaseUser(t, email);
      const tokens = await signInUpstream('acme-untrusted', { email, email_verified: true });
      assert.equal(await verifiedOf(tokens), false);
      assert.notEqual(tokens.claims.sub, primary.user_id, 'and never auto-links it');
    });

    it('a fresh sign-in asked of the tenant must be fresh at the upstream: an old upstream session is refused (docs/security.md case 38)', async () => {
      const hourAgo = Math.floor(Date.now() / 1000) - 3600;
      try {
        const asked: Record<string, string>[] = [{ prompt: 'login' }, { prompt: 'login', max_age: '300' }, { max_age: '60' }];
        for (const extra of asked) {
          upstream.loginAt = hourAgo;
          const { request, outcome } = await upstreamRound('acme-trusted', { email: uniqueEmail('stale') }, extra);
          assert.equal(request.searchParams.get('prompt'), extra.prompt ?? null, JSON.stringify(extra));
          assert.equal(request.searchParams.get('max_age'), extra.max_age ?? '0', JSON.stringify(extra));
          assert.ok(outcome.page, `refused, not sent to the client: ${JSON.stringify(extra)}`);
          assert.equal(outcome.page.status, 400);
          assert.match(outcome.page.text, /A fresh sign-in is needed/);
          assert.match(outcome.page.text, /did not ask you to sign in again/);
        }
        // Within max_age (an upstream session of 50 s for max_age=300) is fresh enough.
        upstream.loginAt = Math.floor(Date.now() / 1000) - 50;
        const recent = await signInUpstream('acme-trusted', { email: uniqueEmail('recent') }, { max_age: '300' });
        assert.equal(typeof recent.claims.auth_time, 'number');
        // A sign-in asked for no freshness is not judged on it.
        upstream.loginAt = hourAgo;
        await signInUpstream('acme-trusted', { email: uniqueEmail('plain') });
      } finally {
        upstream.loginAt = undefined;
      }
      await signInUpstream('acme-trusted', { email: uniqueEmail('fresh') }, { prompt: 'login', max_age: '300' });
    });

    it('treats the string "true" and a missing claim as unverified (case 2)', async () => {
      const email = uniqueEmail('string');
      const primary = await databaseUser(t, email);
      const asString = await signInUpstream('acme-trusted', { email, email_verified: 'true' });
      assert.equal(await verifiedOf(asString), false);
      assert.notEqual(asString.claims.sub, primary.user_id);
      const missing = await signInUpstream('acme-trusted', { email: uniqueEmail('missing') });
      assert.equal(await verifiedOf(missing), false);
    });
  });
}

describe('the PKCE challenge sent upstream', () => {
  it("is RFC 7636's S256 of the verifier, as openid-client computes it", async () => {
    // RFC 7636, appendix B.
    assert.equal(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    for (let i = 0; i < 200; i++) {
      const verifier = openidClient.randomPKCECodeVerifier();
      assert.equal(pkceChallenge(verifier), await openidClient.calculatePKCECodeChallenge(verifier), verifier);
    }
  });
});

describe("judging an upstream id_token's auth_time (docs/security.md case 38)", () => {
  const now = 1_800_000_000;
  const transaction = (fresh: Partial<UpstreamTransaction>): UpstreamTransaction => ({
    connection: 'acme',
    state: 's',
    codeVerifier: 'v',
    nonce: 'n',
    startedAt: now - 20,
    expiresAt: now + 580,
    ...fresh,
  });

  it('asks nothing of a sign-in that asked for no freshness', () => {
    assert.equal(upstreamAuthTimeProblem({}, transaction({}), now), undefined);
    assert.equal(upstreamAuthTimeProblem({ auth_time: 1 }, transaction({}), now), undefined);
  });

  it('needs auth_time as a number whenever freshness was asked for', () => {
    for (const fresh of [{ freshLogin: true }, { maxAge: 300 }, { maxAge: 0, freshLogin: true }]) {
      for (const authTime of [undefined, String(now), null, Number.NaN]) {
        assert.equal(
          upstreamAuthTimeProblem(authTime === undefined ? {} : { auth_time: authTime }, transaction(fresh), now),
          'missing',
          `${JSON.stringify(fresh)} ${String(authTime)}`,
        );
      }
    }
  });

  it('prompt=login: not before the upstream request, give or take 30 s of clock skew', () => {
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 10 }, transaction({ freshLogin: true }), now), undefined);
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 50 }, transaction({ freshLogin: true }), now), undefined, 'skew');
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 51 }, transaction({ freshLogin: true }), now), 'stale');
  });

  it('max_age: no older than max_age, give or take 30 s of clock skew', () => {
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 300 }, transaction({ maxAge: 300 }), now), undefined);
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 330 }, transaction({ maxAge: 300 }), now), undefined, 'skew');
    assert.equal(upstreamAuthTimeProblem({ auth_time: now - 331 }, transaction({ maxAge: 300 }), now), 'stale');
    assert.equal(
      upstreamAuthTimeProblem({ auth_time: now - 100 }, transaction({ maxAge: 300, freshLogin: true }), now),
      'stale',
      'and prompt=login still needs a new sign-in',
    );
  });
});

interface TestUpstream {
  issuer: string;
  clientSecret: string;
  /** The account the next sign-in at the upstream gets, with exactly these id_token claims. */
  next: Record<string, unknown> & { sub: string };
  /**
   * When the upstream says the next sign-in happened (its auth_time, epoch seconds); unset: now.
   * An earlier time is an upstream that reuses an old session of its own whatever it is asked.
   */
  loginAt?: number | undefined;
  close(): Promise<void>;
}

/**
 * A minimal upstream OpenID Provider on a real loopback port: it signs in whoever `next`
 * says, with no page, and puts the claims in the id_token exactly as given (even wrong ones).
 */
async function startUpstream(connections: string[]): Promise<TestUpstream> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientSecret = randomBytes(16).toString('hex');
  const accounts = new Map<string, Record<string, unknown>>();
  const state: TestUpstream = {
    issuer,
    clientSecret,
    next: { sub: 'nobody' },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'accord',
        client_secret: clientSecret,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: connections.map((c) => `${TEST_ISSUER}/login/callback/${c}`),
      },
    ],
    adapter: memoryAdapter(),
    cookies: { keys: [randomBytes(16).toString('hex')] },
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    jwks: { keys: [newSigningKey()] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Grant: 600, Session: 600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, sub) => {
      const claims = accounts.get(sub);
      return claims ? { accountId: sub, claims: () => ({ ...claims, sub }) } : undefined;
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url?.startsWith('/interaction/')) {
      const { sub, ...claims } = state.next;
      accounts.set(sub, claims);
      provider
        .interactionFinished(
          req,
          res,
          { login: { accountId: sub, ...(state.loginAt === undefined ? {} : { ts: state.loginAt }) } },
          { mergeWithLastSubmission: false },
        )
        .catch((err: unknown) => {
          res.statusCode = 500;
          res.end(String(err));
        });
      return;
    }
    callback(req, res);
  });
  return state;
}
