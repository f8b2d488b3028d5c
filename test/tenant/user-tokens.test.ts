import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { USER_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';
import { testDatabases } from '../helpers/databases.ts';
import { authorize, browser, csrfOf, followToCallback, RP_REDIRECT_URI, tenantPerSuite, type Authorization, type RelyingParty } from '../helpers/login-flow.ts';
import { api, assertAuth0Error, enc, STRONG_PASSWORD, TEST_ACTOR } from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { TEST_AUDIENCE, type TestTenant } from '../helpers/tenant.ts';

const CONNECTION = 'Username-Password-Authentication';
const MACHINE_SCOPES = ['read:users', 'update:users'];

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  scope?: string;
}

for (const db of testDatabases()) {
  describe(`Management API tokens issued to a person carry only the person's scopes (docs/security.md case 31) [${db.label}]`, () => {
    let t: TestTenant;
    // A client that signs people in *and* is a machine-to-machine client with update:users: the
    // reproduction of the case.
    let dual: RelyingParty;
    let mallory: UserProfile;
    let victim: UserProfile;
    tenantPerSuite(db, (started) => {
      t = started.t;
    });

    const ready = async () => {
      if (dual) return;
      const client = await t.tenant.clients.create({
        name: 'dual',
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        scopes: MACHINE_SCOPES,
        redirectUris: [RP_REDIRECT_URI],
      });
      dual = { clientId: client.client_id, clientSecret: client.client_secret };
      mallory = await t.tenant.directory.createUser(
        { connection: CONNECTION, email: uniqueEmail('mallory'), email_verified: true, password: STRONG_PASSWORD },
        TEST_ACTOR,
      );
      victim = await t.tenant.directory.createUser({ connection: 'email', email: uniqueEmail('victim'), email_verified: true }, TEST_ACTOR);
    };

    /** Mallory signs in through `dual` with these authorization parameters; returns the code's callback. */
    async function signIn(extra: Record<string, string>): Promise<{ auth: Authorization; code: string }> {
      const agent = browser(t.tenant);
      const auth = await authorize(agent, dual, extra);
      const page = await agent.get(`/login/${auth.uid}/${CONNECTION}`);
      assert.equal(page.status, 200, page.text.slice(0, 300));
      const res = await agent
        .post(`/login/${auth.uid}/${CONNECTION}`)
        .type('form')
        .send({ _csrf: csrfOf(page.text), email: mallory.email, password: STRONG_PASSWORD });
      assert.equal(res.status, 303, res.text.slice(0, 300));
      const callback = await followToCallback(agent, res.headers.location!);
      assert.equal(callback.get('error'), null, `${callback.get('error')}: ${callback.get('error_description')}`);
      return { auth, code: callback.get('code')! };
    }

    async function tokenRequest(body: Record<string, string>): Promise<TokenResponse> {
      const res = await t.request.post('/oauth/token').type('form').auth(dual.clientId, dual.clientSecret).send(body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as TokenResponse;
    }

    const exchange = (auth: Authorization, code: string, audience: Record<string, string>) =>
      tokenRequest({
        grant_type: 'authorization_code',
        code,
        redirect_uri: RP_REDIRECT_URI,
        code_verifier: auth.verifier,
        ...audience,
      });

    function scopesOf(accessToken: string): string[] {
      const claims = decodeJwt(accessToken);
      assert.equal(claims.aud, TEST_AUDIENCE);
      assert.equal(claims.sub, mallory.user_id);
      return String(claims.scope ?? '')
        .split(' ')
        .filter(Boolean);
    }

    it('authorization code: asking for update:users with resource=/api/v2/ yields no machine scope, and PATCH of another user is refused', async () => {
      await ready();
      const { auth, code } = await signIn({ scope: 'openid update:users read:users', resource: TEST_AUDIENCE });
      const tokens = await exchange(auth, code, { resource: TEST_AUDIENCE });
      assert.deepEqual(scopesOf(tokens.access_token), []);
      assert.equal(tokens.scope ?? '', '');
      const asMallory = api(t, tokens.access_token);
      assertAuth0Error(await asMallory.patch(`/users/${enc(victim.user_id)}`, { user_metadata: { owned: true } }), 403, 'insufficient_scope');
      assertAuth0Error(await asMallory.get(`/users/${enc(victim.user_id)}`), 403, 'insufficient_scope');
      assert.deepEqual((await t.tenant.directory.getUser(victim.user_id)).user_metadata, {});
    });

    it("authorization code with Auth0's audience: the person's own scopes, usable on their own user only", async () => {
      await ready();
      const { auth, code } = await signIn({ scope: `openid ${USER_SCOPES.join(' ')} update:users`, resource: TEST_AUDIENCE });
      const tokens = await exchange(auth, code, { audience: TEST_AUDIENCE });
      assert.deepEqual(scopesOf(tokens.access_token).sort(), [...USER_SCOPES].sort());
      const own = api(t, tokens.access_token);
      const me = enc(mallory.user_id);
      assert.equal((await own.get(`/users/${me}`)).status, 200);
      const patched = await own.patch(`/users/${me}`, { user_metadata: { theme: 'dark' } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      assert.deepEqual(patched.body.user_metadata, { theme: 'dark' });
      // update:current_user_metadata is for user_metadata alone, as at Auth0.
      for (const body of [
        { name: 'Mallory the admin' },
        { app_metadata: { roles: ['admin'] } },
        { email_verified: true, user_metadata: {} },
        { blocked: false },
      ]) {
        assertAuth0Error(await own.patch(`/users/${me}`, body), 403, 'insufficient_scope');
      }
      assert.equal((await t.tenant.directory.getUser(mallory.user_id)).name, mallory.name);
      // And only for its own sub.
      const other = enc(victim.user_id);
      assertAuth0Error(await own.get(`/users/${other}`), 403, 'subject_mismatch');
      assertAuth0Error(await own.patch(`/users/${other}`, { user_metadata: { owned: true } }), 403, 'subject_mismatch');
      assertAuth0Error(await own.delete(`/users/${other}/identities/email/x`), 403, 'subject_mismatch');
      assertAuth0Error(await own.get('/users-by-email?email=a@example.com'), 403, 'insufficient_scope');
    });

    it('refresh token: a refreshed token carries no machine scope, even from a grant that holds them', async () => {
      await ready();
      const { auth, code } = await signIn({ scope: 'openid offline_access read:current_user update:users', resource: TEST_AUDIENCE, prompt: 'consent' });
      const first = await exchange(auth, code, { resource: TEST_AUDIENCE });
      assert.ok(first.refresh_token, 'offline_access yields a refresh token');
      assert.deepEqual(scopesOf(first.access_token), ['read:current_user']);

      // A grant made before this was fixed holds the client's machine scopes for the API.
      const refresh = await t.tenant.provider.RefreshToken.find(first.refresh_token);
      const grant = await t.tenant.provider.Grant.find(refresh!.grantId!);
      grant!.addResourceScope(TEST_AUDIENCE, MACHINE_SCOPES.join(' '));
      await grant!.save();

      const refreshes: Record<string, string>[] = [
        { resource: TEST_AUDIENCE },
        { audience: TEST_AUDIENCE },
        { resource: TEST_AUDIENCE, scope: 'openid read:current_user' },
      ];
      for (const body of refreshes) {
        const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: first.refresh_token, ...body });
        assert.deepEqual(scopesOf(refreshed.access_token), ['read:current_user'], JSON.stringify(body));
        assertAuth0Error(await api(t, refreshed.access_token).patch(`/users/${enc(victim.user_id)}`, { name: 'x' }), 403, 'insufficient_scope');
      }
      // Asking a refresh for a machine scope by name is refused outright.
      const asked = await t.request
        .post('/oauth/token')
        .type('form')
        .auth(dual.clientId, dual.clientSecret)
        .send({ grant_type: 'refresh_token', refresh_token: first.refresh_token, resource: TEST_AUDIENCE, scope: 'openid update:users' });
      assert.equal(asked.status, 400);
      assert.equal(asked.body.error, 'invalid_scope');
    });

    it("client credentials: the same client's machine token keeps its machine scopes", async () => {
      await ready();
      const tokens = await tokenRequest({ grant_type: 'client_credentials', audience: TEST_AUDIENCE });
      assert.deepEqual(String(decodeJwt(tokens.access_token).scope).split(' ').sort(), [...MACHINE_SCOPES].sort());
      const patched = await api(t, tokens.access_token).patch(`/users/${enc(victim.user_id)}`, { user_metadata: { by: 'backend' } });
      assert.equal(patched.status, 200);
    });

    it('the token guard ignores machine scopes on any token that is not a client-credentials token', async () => {
      await ready();
      const forged = await t.userToken(mallory.user_id, ['update:users', 'read:users', 'delete:users', 'read:current_user'], { clientId: dual.clientId });
      const asMallory = api(t, forged);
      assertAuth0Error(await asMallory.patch(`/users/${enc(victim.user_id)}`, { name: 'x' }), 403, 'insufficient_scope');
      assertAuth0Error(await asMallory.get('/users'), 403, 'insufficient_scope');
      assertAuth0Error(await asMallory.delete(`/users/${enc(victim.user_id)}`), 403, 'insufficient_scope');
      assert.equal((await asMallory.get(`/users/${enc(mallory.user_id)}`)).status, 200, 'its user scope still counts');
    });
  });
}
