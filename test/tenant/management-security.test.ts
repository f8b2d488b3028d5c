import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { MANAGEMENT_SCOPES } from '../../src/tenant/clients/client-registry.ts';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';
import { testDatabases } from '../helpers/databases.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';
import {
  api,
  apiClient,
  assertAuth0Error,
  assertNoStackTrace,
  claimsFor,
  createEmailUser,
  createSocialUser,
  enc,
  handMadeJwt,
  signWithTenantKey,
  type ApiClient,
} from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { startTestTenant, TEST_AUDIENCE, TEST_ISSUER, type TestTenant } from '../helpers/tenant.ts';

const INVALID_LINK_WITH = 'Invalid token (link_with).';

for (const db of testDatabases()) {
  describe(`Management API: security checklist cases 8, 16, 17, 26 and rate limit [${db.label}]`, () => {
    let t: TestTenant;
    let cleanup: () => Promise<void>;
    let admin: ApiClient;
    let a: ReturnType<typeof api>;
    /** A key that is not the tenant's, published under the tenant's kid (an attacker's best try). */
    let foreignKey: CryptoKey;

    const getUser = async (userId: string): Promise<UserProfile> => {
      const res = await a.get(`/users/${enc(userId)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as UserProfile;
    };
    const signForeign = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: t.tenant.keys.signing[0]!.kid, typ: 'JWT' }).sign(foreignKey);

    before(async () => {
      const opened = await db.open();
      cleanup = opened.cleanup;
      t = await startTestTenant(opened.database);
      admin = await apiClient(t, MANAGEMENT_SCOPES);
      a = api(t, admin.token);
      ({ privateKey: foreignKey } = await generateKeyPair('RS256', { extractable: true }));
    });
    after(async () => {
      await assertDirectoryInvariant(t.tenant.database);
      await t.close();
      await cleanup();
    });

    // ------------------------------------------------------------ case 8: link_with

    describe('case 8: link_with tokens that must be refused', () => {
      let primary: UserProfile;
      let secondary: UserProfile;
      const path = () => `/users/${enc(primary.user_id)}/identities`;
      const refuse = async (linkWith: string, errorCode: string, message: string) => {
        assertAuth0Error(await a.post(path(), { link_with: linkWith }), 400, errorCode, message);
      };

      before(async () => {
        primary = await createEmailUser(t);
        secondary = await createSocialUser(t);
      });
      after(async () => {
        // Nothing was linked by any of these attempts.
        assert.deepEqual(await getUser(secondary.user_id), secondary);
        assert.deepEqual((await getUser(primary.user_id)).identities, primary.identities);
      });

      it('case 8: link_with with a wrong aud → 400 "JWT (link_with) contains an invalid aud claim."', async () => {
        const message = 'JWT (link_with) contains an invalid aud claim.';
        await refuse(await t.idToken(secondary.user_id, 'some-other-client'), 'link_with_aud', message);
        // An access token for the Management API is not an id_token for the caller's app.
        await refuse(await t.idToken(secondary.user_id, TEST_AUDIENCE), 'link_with_aud', message);
        await refuse(await signWithTenantKey(t, claimsFor(secondary.user_id, 'x', { aud: ['a', 'b'] })), 'link_with_aud', message);
        await refuse(await signWithTenantKey(t, claimsFor(secondary.user_id, 'x', { aud: undefined })), 'link_with_aud', message);
        // The aud must be the calling token's azp: a user token from another app cannot use this app's id_token.
        const userToken = await t.userToken(primary.user_id, ['update:current_user_identities'], { clientId: 'app-one' });
        assertAuth0Error(await api(t, userToken).post(path(), { link_with: await t.idToken(secondary.user_id, 'app-two') }), 400, 'link_with_aud', message);
        assertAuth0Error(
          await api(t, userToken).post(path(), { link_with: await t.idToken(secondary.user_id, admin.clientId) }),
          400,
          'link_with_aud',
          message,
        );
      });

      it('case 8: link_with with alg none → 400 "JWT (link_with) must have an alg of RS256."', async () => {
        const claims = claimsFor(secondary.user_id, admin.clientId) as Record<string, unknown>;
        for (const alg of ['none', 'None', 'NONE']) {
          await refuse(handMadeJwt({ alg, typ: 'JWT' }, claims), 'link_with_alg', 'JWT (link_with) must have an alg of RS256.');
        }
        // alg:none with a signature part left in place is still alg:none.
        const valid = await t.idToken(secondary.user_id, admin.clientId);
        const [, , signature] = valid.split('.');
        await refuse(`${handMadeJwt({ alg: 'none', typ: 'JWT' }, claims)}${signature}`, 'link_with_alg', 'JWT (link_with) must have an alg of RS256.');
      });

      it('case 8: link_with with HS256 → 400 "JWT (link_with) must have an alg of RS256."', async () => {
        const claims = claimsFor(secondary.user_id, admin.clientId) as Record<string, unknown>;
        const key = t.tenant.keys.signing[0]!;
        // The classic confusion attack: HMAC keyed with the public key that anyone can fetch.
        const publicJwks = (await t.request.get('/.well-known/jwks.json')).text;
        for (const secret of [publicJwks, key.n, 'secret']) {
          await refuse(handMadeJwt({ alg: 'HS256', typ: 'JWT', kid: key.kid }, claims, secret), 'link_with_alg', 'JWT (link_with) must have an alg of RS256.');
        }
        await refuse(handMadeJwt({ alg: 'RS512', typ: 'JWT', kid: key.kid }, claims, 'x'), 'link_with_alg', 'JWT (link_with) must have an alg of RS256.');
      });

      it('case 8: link_with with a bad signature → 400 "Invalid token (link_with)."', async () => {
        const valid = await t.idToken(secondary.user_id, admin.clientId);
        const [header, payload, signature] = valid.split('.') as [string, string, string];
        // Signature of one token, payload of another: the sub swapped for a different user.
        const other = await createSocialUser(t);
        const swapped = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: other.user_id })).toString('base64url');
        await refuse(`${header}.${swapped}.${signature}`, 'link_with_invalid', INVALID_LINK_WITH);
        const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
        await refuse(`${header}.${payload}.${flipped}`, 'link_with_invalid', INVALID_LINK_WITH);
        await refuse(`${header}.${payload}.`, 'link_with_invalid', INVALID_LINK_WITH);
        await refuse(`${header}.${payload}.${signature.slice(0, 20)}`, 'link_with_invalid', INVALID_LINK_WITH);
        await refuse('not-a-jwt', 'link_with_invalid', INVALID_LINK_WITH);
        await refuse('a.b.c', 'link_with_invalid', INVALID_LINK_WITH);
        assert.deepEqual(await getUser(other.user_id), other);
      });

      it('case 8: link_with from another issuer (another key; the tenant key with another iss) → 400', async () => {
        const claims = claimsFor(secondary.user_id, admin.clientId) as Record<string, unknown>;
        // Another RSA key claiming to be this tenant: the signature does not verify.
        await refuse(await signForeign(claims), 'link_with_invalid', INVALID_LINK_WITH);
        // Another RSA key and another issuer.
        await refuse(
          await signForeign({ ...claims, iss: 'https://evil.example/' }),
          'link_with_iss',
          'JWT (link_with) must have the same issuer as the calling user.',
        );
        // The tenant's own key, but another issuer.
        for (const iss of ['https://evil.example/', `${TEST_ISSUER}.evil.example`, 'http://127.0.0.1:4998']) {
          await refuse(
            await t.idToken(secondary.user_id, admin.clientId, { iss }),
            'link_with_iss',
            'JWT (link_with) must have the same issuer as the calling user.',
          );
        }
        await refuse(
          await signWithTenantKey(t, { ...claims, iss: undefined }),
          'link_with_iss',
          'JWT (link_with) must have the same issuer as the calling user.',
        );
      });

      it('case 8: link_with that has expired (or has no exp) → 400 "Invalid token (link_with)."', async () => {
        await refuse(await t.idToken(secondary.user_id, admin.clientId, { expSecondsFromNow: -60 }), 'link_with_invalid', INVALID_LINK_WITH);
        await refuse(await t.idToken(secondary.user_id, admin.clientId, { expSecondsFromNow: -1 }), 'link_with_invalid', INVALID_LINK_WITH);
        await refuse(await signWithTenantKey(t, { ...claimsFor(secondary.user_id, admin.clientId), exp: undefined }), 'link_with_invalid', INVALID_LINK_WITH);
        await refuse(
          await signWithTenantKey(t, { ...claimsFor(secondary.user_id, admin.clientId), nbf: Math.floor(Date.now() / 1000) + 3600 }),
          'link_with_invalid',
          INVALID_LINK_WITH,
        );
      });
    });

    // ------------------------------------------------------------ case 16: email normalization

    it('case 16: Victim@X.com and victim@x.com are one person; fullwidth ＠, Cyrillic о, dotless ı are not', async () => {
      const victim = await a.post('/users', { connection: 'email', email: 'Victim@X.com', email_verified: true });
      assert.equal(victim.status, 201, JSON.stringify(victim.body));
      const byEmail = async (email: string) => {
        const res = await a.get(`/users-by-email?email=${enc(email)}`);
        assert.equal(res.status, 200, `${email}: ${JSON.stringify(res.body)}`);
        return (res.body as UserProfile[]).map((u) => u.user_id);
      };
      for (const same of ['Victim@X.com', 'victim@x.com', 'VICTIM@X.COM', 'vIcTiM@x.CoM', ' victim@x.com ']) {
        assert.deepEqual(await byEmail(same), [victim.body.user_id], same);
      }
      // One account per email and connection, whatever the case.
      assertAuth0Error(await a.post('/users', { connection: 'email', email: 'victim@x.com' }), 409, 'user_exists');

      const lookalikes = [
        'victim\uFF20x.com', // fullwidth commercial at
        'victim@x.c\u043Em', // Cyrillic small o
        'vict\u0456m@x.com', // Cyrillic Ukrainian i
        'v\u0131ctim@x.com', // dotless i
        'V\u0130CTIM@X.COM', // capital I with dot above (lowercases to i + U+0307)
        '\uFF56ictim@x.com', // fullwidth v
        'victim@x.com\u200B', // zero-width space
        'victim@x\u2024com', // one dot leader
      ];
      for (const lookalike of lookalikes) {
        assert.deepEqual(await byEmail(lookalike), [], JSON.stringify(lookalike));
        const search = await a.get(`/users?q=${enc(`email:"${lookalike}"`)}`);
        assert.deepEqual(search.body, [], JSON.stringify(lookalike));
      }

      // An attacker's lookalike account is a different person in both directions.
      const attacker = await a.post('/users', { connection: 'email', email: 'v\u0131ctim@x.com', email_verified: true });
      assert.equal(attacker.status, 201, JSON.stringify(attacker.body));
      assert.deepEqual(await byEmail('victim@x.com'), [victim.body.user_id]);
      assert.deepEqual(await byEmail('v\u0131ctim@x.com'), [attacker.body.user_id]);
      assert.deepEqual(
        (await a.get(`/users?q=${enc('email:"Victim@X.com"')}`)).body.map((u: UserProfile) => u.user_id),
        [victim.body.user_id],
      );

      // Canonically equivalent forms (NFC vs NFD) are one address.
      const jose = await a.post('/users', { connection: 'email', email: 'Jos\u00E9@X.com' });
      assert.equal(jose.status, 201);
      assert.deepEqual(await byEmail('jose\u0301@x.com'), [jose.body.user_id]);
    });

    // ------------------------------------------------------------ case 17: non-string emails

    it('case 17: email[]=a&email[]=b, email=a&email=b, a missing or non-string email → 400, never 500', async () => {
      const queries = [
        'email[]=a@x.com&email[]=b@x.com',
        'email=a@x.com&email=b@x.com',
        'email[0]=a@x.com',
        'email[foo]=a@x.com',
        'email[]=a@x.com',
        '',
        'email=',
        'email',
        'mail=a@x.com',
        `email=${'a'.repeat(400)}@x.com`,
        'email=a@x.com&extra=1',
      ];
      for (const query of queries) {
        assertAuth0Error(await a.get(`/users-by-email?${query}`), 400, 'invalid_query_string', /^Query validation error/);
      }
      for (const email of [['a@x.com', 'b@x.com'], { $ne: null }, 42, true, null]) {
        assertAuth0Error(await a.post('/users', { connection: 'email', email }), 400, 'invalid_body', /^Payload validation error/);
      }
      const user = await createEmailUser(t);
      for (const email of [['a@x.com'], { toString: 'x' }, 7]) {
        assertAuth0Error(await a.patch(`/users/${enc(user.user_id)}`, { email }), 400, 'invalid_body', /^Payload validation error/);
      }
      for (const query of [`q[]=${enc('email:"a@x.com"')}`, `q=${enc('email:"a@x.com"')}&q=${enc('email:"b@x.com"')}`, 'page[]=1', 'per_page=1&per_page=2']) {
        assertAuth0Error(await a.get(`/users?${query}`), 400, 'invalid_query_string');
      }
      assert.deepEqual(await getUser(user.user_id), user);
    });

    // ------------------------------------------------------------ case 26: the API's own edges

    describe('case 26: Management API authentication and input edges', () => {
      const bearer = (token: string) => t.request.get('/api/v2/users').set('authorization', `Bearer ${token}`);
      const adminClaims = () =>
        claimsFor(admin.clientId, TEST_AUDIENCE, { azp: admin.clientId, gty: 'client-credentials', scope: MANAGEMENT_SCOPES.join(' ') });

      it('case 26: missing or malformed Authorization → 401 in Auth0 error shape with WWW-Authenticate', async () => {
        const missing = await t.request.get('/api/v2/users');
        assertAuth0Error(missing, 401, 'invalid_token');
        assert.match(String(missing.headers['www-authenticate']), /^Bearer /);
        for (const header of ['', 'Bearer', 'Bearer ', 'bearer x', 'Basic dXNlcjpwYXNz', `Token ${admin.token}`, `Bearer ${admin.token} extra`]) {
          assertAuth0Error(await t.request.get('/api/v2/users').set('authorization', header), 401, 'invalid_token');
        }
      });

      it('API answers are never sniffed or cached, and carry no page policies', async () => {
        for (const res of [await a.get('/users'), await t.request.get('/api/v2/users')]) {
          assert.equal(res.headers['x-content-type-options'], 'nosniff');
          assert.equal(res.headers['cache-control'], 'no-store');
          assert.match(String(res.headers['content-type']), /^application\/json/);
          assert.equal(res.headers['content-security-policy'], undefined);
        }
      });

      it('case 26: garbage token → 401 "Invalid token"', async () => {
        for (const token of ['garbage', 'a.b.c', 'eyJhbGciOiJSUzI1NiJ9.e30.AAAA', `${admin.token}x`, admin.token.split('.').slice(0, 2).join('.') + '.']) {
          assertAuth0Error(await bearer(token), 401, 'invalid_token', 'Invalid token');
        }
      });

      it('case 26: expired token → 401', async () => {
        const expired = await signWithTenantKey(t, { ...adminClaims(), exp: Math.floor(Date.now() / 1000) - 10 });
        assertAuth0Error(await bearer(expired), 401, 'invalid_token', 'Invalid token');
        const noExp = await signWithTenantKey(t, { ...adminClaims(), exp: undefined });
        assertAuth0Error(await bearer(noExp), 401, 'invalid_token', 'Invalid token');
        // Control: the same claims, unexpired, are accepted.
        assert.equal((await bearer(await signWithTenantKey(t, adminClaims()))).status, 200);
      });

      it('case 26: a token the tenant has already verified (and remembers) is refused once it expires, with the same scopes until then', async () => {
        const exp = Math.floor(Date.now() / 1000) + 2;
        const shortLived = await signWithTenantKey(t, { ...adminClaims(), scope: 'read:users', exp });
        assert.equal((await bearer(shortLived)).status, 200);
        assert.equal((await bearer(shortLived)).status, 200);
        assertAuth0Error(
          await t.request.delete(`/api/v2/users/${enc('email|000000000000000000000000')}`).set('authorization', `Bearer ${shortLived}`),
          403,
          'insufficient_scope',
        );
        await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
        assertAuth0Error(await bearer(shortLived), 401, 'invalid_token', 'Invalid token');
      });

      it('case 26: a header that ends as a remembered token does (its signature) but differs before it → 401; the token itself still passes', async () => {
        assert.equal((await bearer(admin.token)).status, 200);
        const [header, payload, signature] = admin.token.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
        const widened = Buffer.from(JSON.stringify({ ...claims, scope: `${String(claims.scope)} x` })).toString('base64url');
        for (const forged of [`${header}.${widened}.${signature}`, `x${admin.token}`, `${header}.${payload}x.${signature}`]) {
          assertAuth0Error(await bearer(forged), 401, 'invalid_token', 'Invalid token');
        }
        assert.equal((await bearer(admin.token)).status, 200);
      });

      it('case 26: foreign-issuer token (another key, or the tenant key with another iss) → 401', async () => {
        assertAuth0Error(await bearer(await signForeign(adminClaims())), 401, 'invalid_token', 'Invalid token');
        assertAuth0Error(await bearer(await signForeign({ ...adminClaims(), iss: 'https://evil.example/' })), 401, 'invalid_token');
        assertAuth0Error(await bearer(await signWithTenantKey(t, { ...adminClaims(), iss: 'https://evil.example/' })), 401, 'invalid_token');
        assertAuth0Error(await bearer(await signWithTenantKey(t, { ...adminClaims(), iss: undefined })), 401, 'invalid_token');
        // Tokens whose alg is not RS256 never verify.
        assertAuth0Error(await bearer(handMadeJwt({ alg: 'none', typ: 'JWT' }, adminClaims() as Record<string, unknown>)), 401, 'invalid_token');
        assertAuth0Error(
          await bearer(
            handMadeJwt(
              { alg: 'HS256', typ: 'JWT', kid: t.tenant.keys.signing[0]!.kid },
              adminClaims() as Record<string, unknown>,
              JSON.stringify(await exportJWK(foreignKey)),
            ),
          ),
          401,
          'invalid_token',
        );
      });

      it('case 26: wrong-audience token (an id_token, another API) → 401', async () => {
        assertAuth0Error(await bearer(await t.idToken(admin.clientId, admin.clientId)), 401, 'invalid_token');
        assertAuth0Error(await bearer(await signWithTenantKey(t, { ...adminClaims(), aud: 'https://other.example/api/' })), 401, 'invalid_token');
        assertAuth0Error(await bearer(await signWithTenantKey(t, { ...adminClaims(), aud: `${TEST_ISSUER}/userinfo` })), 401, 'invalid_token');
        assertAuth0Error(await bearer(await signWithTenantKey(t, { ...adminClaims(), aud: undefined })), 401, 'invalid_token');
      });

      it('case 26: wrong scope → 403 insufficient_scope on every route', async () => {
        const nothing = await apiClient(t, ['read:current_user']);
        const n = api(t, nothing.token);
        const id = enc('email|000000000000000000000000');
        const checks = [
          [await n.get('/users'), 'read:users'],
          [await n.post('/users', { connection: 'email', email: uniqueEmail() }), 'create:users'],
          [await n.get(`/users/${id}`), 'read:users,read:current_user'],
          [await n.patch(`/users/${id}`, { name: 'x' }), 'update:users,update:current_user_metadata'],
          [await n.delete(`/users/${id}`), 'delete:users'],
          [await n.get('/users-by-email?email=a@x.com'), 'read:users'],
          [await n.post(`/users/${id}/identities`, { provider: 'google-oauth2', user_id: '1' }), 'update:users,update:current_user_identities'],
          [await n.delete(`/users/${id}/identities/google-oauth2/1`), 'update:users,update:current_user_identities'],
          [await n.get('/logs'), 'read:logs'],
          [await n.get(`/users/${id}/logs`), 'read:logs,read:logs_users'],
          [await n.get('/connections'), 'read:connections'],
        ] as const;
        for (const [res, scopes] of checks) {
          // The token's read:current_user is a self scope of GET /users/{id}: there, another user's id is the refusal.
          if (scopes === 'read:users,read:current_user') assertAuth0Error(res, 403, 'subject_mismatch');
          else assertAuth0Error(res, 403, 'insufficient_scope', `Insufficient scope, expected any of: ${scopes}`);
        }
      });

      it('case 26: body over 100 kB → 413', async () => {
        const big = { connection: 'email', email: uniqueEmail(), user_metadata: { blob: 'x'.repeat(110 * 1024) } };
        assertAuth0Error(await a.post('/users', big), 413, 'payload_too_large');
        const user = await createEmailUser(t);
        assertAuth0Error(await a.patch(`/users/${enc(user.user_id)}`, { user_metadata: { blob: 'x'.repeat(200 * 1024) } }), 413, 'payload_too_large');
        assertAuth0Error(await a.post(`/users/${enc(user.user_id)}/identities`, { link_with: 'x'.repeat(1024 * 1024) }), 413, 'payload_too_large');
        // Just under the limit is read, and then judged on its content: metadata over 16 kB.
        const underLimit = await a.patch(`/users/${enc(user.user_id)}`, { user_metadata: { blob: 'x'.repeat(90 * 1024) } });
        assertAuth0Error(underLimit, 400, 'metadata_too_large');
      });

      it("case 35 (docs/security.md): JSON nested thousands of levels deep → 400 json_too_deep in Auth0's shape, never a 500, nothing stored", async () => {
        const user = await createEmailUser(t, { user_metadata: { kept: true } });
        const path = `/api/v2/users/${enc(user.user_id)}`;
        const nested = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
        const send = (method: 'post' | 'patch', url: string, body: string) =>
          t.request[method](url).set('authorization', `Bearer ${admin.token}`).set('content-type', 'application/json').send(body);
        // The issue's request: user_metadata nesting 5,000 arrays (a RangeError in JSON.stringify before).
        for (const levels of [33, 3000, 5000, 50_000]) {
          assertAuth0Error(await send('patch', path, `{"user_metadata":{"deep":${nested(levels)}}}`), 400, 'json_too_deep', /more than 32 levels deep/);
        }
        assertAuth0Error(
          await send('post', '/api/v2/users', `{"connection":"email","email":"${uniqueEmail()}","app_metadata":{"x":${nested(5000)}}}`),
          400,
          'json_too_deep',
        );
        // Brackets inside strings are text, not nesting.
        const brackets = await send('patch', path, JSON.stringify({ user_metadata: { text: '['.repeat(5000) + '{'.repeat(5000) + '\\"]' } }));
        assert.equal(brackets.status, 200, JSON.stringify(brackets.body));
        assert.equal((await getUser(user.user_id)).user_metadata.kept, true);
        // Nothing of the refused requests was stored.
        assert.deepEqual(Object.keys((await getUser(user.user_id)).user_metadata).sort(), ['kept', 'text']);
        assert.equal((await a.get(`/users-by-email?email=${enc(user.email!)}`)).status, 200);
      });

      it('case 35 (docs/security.md): a JSON token request nested thousands of levels deep → 400 invalid_request, never a 500', async () => {
        const res = await t.request
          .post('/oauth/token')
          .set('content-type', 'application/json')
          .send(`{"grant_type":"client_credentials","client_id":${'['.repeat(5000)}${']'.repeat(5000)}}`);
        assert.equal(res.status, 400, res.text);
        assert.deepEqual(res.body, { error: 'invalid_request', error_description: 'The request body nests arrays and objects more than 32 levels deep.' });
      });

      it('case 26: malformed JSON → 400', async () => {
        for (const body of ['{"connection":', '{connection: "email"}', "{'a':1}", '{"a":1}}', 'null', '"string"', '42', 'true']) {
          const res = await t.request.post('/api/v2/users').set('authorization', `Bearer ${admin.token}`).set('content-type', 'application/json').send(body);
          assertAuth0Error(res, 400, 'invalid_json', 'Invalid request payload JSON format');
        }
        const array = await t.request.post('/api/v2/users').set('authorization', `Bearer ${admin.token}`).set('content-type', 'application/json').send('[]');
        assertAuth0Error(array, 400, 'invalid_body');
        // Not JSON at all: the body is not read, so the required fields are missing.
        const text = await t.request
          .post('/api/v2/users')
          .set('authorization', `Bearer ${admin.token}`)
          .set('content-type', 'text/plain')
          .send('connection=email');
        assertAuth0Error(text, 400, 'invalid_body');
      });

      it('case 26: unknown body fields → 400', async () => {
        const user = await createEmailUser(t);
        assertAuth0Error(
          await a.post('/users', { connection: 'email', email: uniqueEmail(), user_id: 'auth0|chosen' }),
          400,
          'invalid_body',
          /Additional properties not allowed: user_id/,
        );
        assertAuth0Error(await a.post('/users', { connection: 'email', email: uniqueEmail(), identities: [] }), 400, 'invalid_body');
        assertAuth0Error(await a.patch(`/users/${enc(user.user_id)}`, { logins_count: 100 }), 400, 'invalid_body');
        assertAuth0Error(await a.patch(`/users/${enc(user.user_id)}`, { connection: 'google-oauth2' }), 400, 'invalid_body');
        const proto = await t.request
          .post('/api/v2/users')
          .set('authorization', `Bearer ${admin.token}`)
          .set('content-type', 'application/json')
          .send(`{"connection":"email","email":"${uniqueEmail()}","__proto__":{"blocked":true}}`);
        assertAuth0Error(proto, 400, 'invalid_body');
        assert.deepEqual(await getUser(user.user_id), user);
      });

      it('case 26: wrong types → 400', async () => {
        const user = await createEmailUser(t);
        const path = `/users/${enc(user.user_id)}`;
        for (const body of [
          { email_verified: 'true' },
          { blocked: 'yes' },
          { blocked: 1 },
          { name: 5 },
          { name: '' },
          { user_metadata: [] },
          { app_metadata: 'x' },
          { picture: 'not a url' },
          { password: 123 },
          { user_metadata: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) },
        ]) {
          assertAuth0Error(await a.patch(path, body), 400, 'invalid_body', /^Payload validation error/);
        }
        for (const body of [
          { connection: 5, email: uniqueEmail() },
          { connection: 'email', email: uniqueEmail(), email_verified: 'false' },
        ]) {
          assertAuth0Error(await a.post('/users', body), 400, 'invalid_body', /^Payload validation error/);
        }
        assert.deepEqual(await getUser(user.user_id), user);
      });

      it('case 26: unknown query param → 400', async () => {
        const user = await createEmailUser(t);
        const path = `/users/${enc(user.user_id)}`;
        for (const url of [
          `${path}?fields=email`,
          `${path}?x=1`,
          '/users?unknown=1',
          '/users?q=email:a@b.c&fields=email',
          '/logs?from=1',
          '/connections?strategy=oidc&fields=name',
          `${path}/logs?sort=date:1`,
        ]) {
          assertAuth0Error(await a.get(url), 400, 'invalid_query_string', /Query validation error/);
        }
        assertAuth0Error(await a.get(`${path}?x=1&y=2`), 400, 'invalid_query_string', 'Query validation error: Additional properties not allowed: x, y');
        assertAuth0Error(await a.patch(`${path}?x=1`, { name: 'x' }), 400, 'invalid_query_string');
        assertAuth0Error(await a.delete(`${path}?x=1`), 400, 'invalid_query_string');
        assertAuth0Error(await a.post('/users?x=1', { connection: 'email', email: uniqueEmail() }), 400, 'invalid_query_string');
        assert.deepEqual(await getUser(user.user_id), user);
      });

      it('case 26: unknown route under /api/v2 → 404; unauthenticated → 401 first', async () => {
        for (const [method, url] of [
          ['get', '/clients'],
          ['get', '/users/x/roles'],
          ['put', '/users'],
          ['post', '/users/x'],
          ['get', '/'],
          ['get', '/users/x/identities'],
          ['delete', '/users/x/identities/google-oauth2'],
          ['get', '/v3/users'],
        ] as const) {
          const res = await t.request[method](`/api/v2${url}`).set('authorization', `Bearer ${admin.token}`);
          assertAuth0Error(res, 404, 'not_found');
        }
        assertAuth0Error(await t.request.get('/api/v2/clients'), 401, 'invalid_token');
      });

      it('case 26: odd paths and ids → 4xx in Auth0 shape, never a 500 or a stack trace', async () => {
        assertAuth0Error(await a.get('/users/%E0%A4%A'), 400, 'invalid_body');
        assertAuth0Error(await a.get(`/users/${'a'.repeat(600)}`), 400, 'invalid_query_string');
        assertAuth0Error(await a.get(`/users/${enc("auth0|x' OR '1'='1")}`), 404, 'inexistent_user');
        assertAuth0Error(await a.delete('/users/email%7Cx/identities/%E0%A4%A/1'), 400, 'invalid_body');
        const weird = await a.patch('/users/email%7Cx', { user_metadata: { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } } });
        assertNoStackTrace(weird);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
      });

      it('case 26: a NUL character in an id, a query or a body string → 400, never 500 (PostgreSQL text cannot hold it)', async () => {
        const user = await createEmailUser(t);
        const path = `/users/${enc(user.user_id)}`;
        const sub = (await createSocialUser(t)).user_id.split('|')[1]!;
        assertAuth0Error(await a.get('/users/%00'), 400, 'invalid_query_string');
        assertAuth0Error(await a.get('/users/email%7Cab%00cd'), 400, 'invalid_query_string');
        assertAuth0Error(await a.get(`/users?q=${enc('email:"a\u0000@x.com"')}`), 400, 'invalid_query_string');
        assertAuth0Error(await a.get(`/users?q=${enc('user_id:"email|\u0000"')}`), 400, 'invalid_query_string');
        assertAuth0Error(await a.get(`/users?q=${enc('identities.connection:"\u0000"')}`), 400, 'invalid_query_string');
        assertAuth0Error(await a.get(`/users-by-email?email=${enc('a\u0000@x.com')}`), 400, 'invalid_query_string');
        assertAuth0Error(await a.get('/users/%00/logs'), 400, 'invalid_query_string');
        assertAuth0Error(await a.post('/users', { connection: 'email', email: `a\u0000${uniqueEmail()}` }), 400, 'invalid_body');
        assertAuth0Error(await a.post('/users', { connection: 'email', email: uniqueEmail(), name: 'a\u0000b' }), 400, 'invalid_body');
        assertAuth0Error(await a.post('/users', { connection: 'email\u0000', email: uniqueEmail() }), 400, 'invalid_body');
        assertAuth0Error(await a.patch(path, { name: 'a\u0000b' }), 400, 'invalid_body');
        assertAuth0Error(await a.patch(path, { email: `b\u0000${uniqueEmail()}` }), 400, 'invalid_body');
        assertAuth0Error(await a.patch(path, { picture: 'https://example.com/\u0000.png' }), 400, 'invalid_body');
        assertAuth0Error(await a.post(`${path}/identities`, { provider: 'google-oauth2\u0000', user_id: sub }), 400, 'invalid_body');
        assertAuth0Error(await a.post(`${path}/identities`, { provider: 'google-oauth2', user_id: `${sub}\u0000` }), 400, 'invalid_body');
        assertAuth0Error(await a.delete(`${path}/identities/google-oauth2/1%00`), 400, 'invalid_query_string');
        assertAuth0Error(await a.delete(`/users/%00/identities/google-oauth2/1`), 400, 'invalid_query_string');
        // Metadata keys name fields (and appear in the audit log): refused. A metadata value is only data, stored escaped in JSON.
        assertAuth0Error(await a.patch(path, { user_metadata: { 'k\u0000': 'v' } }), 400, 'invalid_body');
        assertAuth0Error(await a.post('/users', { connection: 'email', email: uniqueEmail(), app_metadata: { '\u0000': 1 } }), 400, 'invalid_body');
        const meta = await a.patch(path, { user_metadata: { k: 'v\u0000', nested: { 'x\u0000': 'y\u0000' } } });
        assert.equal(meta.status, 200, JSON.stringify(meta.body));
        assert.deepEqual(meta.body.user_metadata, { k: 'v\u0000', nested: { 'x\u0000': 'y\u0000' } });
        assert.deepEqual((await getUser(user.user_id)).user_metadata, { k: 'v\u0000', nested: { 'x\u0000': 'y\u0000' } });
      });
    });

    // ------------------------------------------------------------ rate limit

    it('rate limit: with managementRateLimitPerMinute 3, the 4th request → 429 too_many_requests with x-ratelimit-* headers', async () => {
      const limited = await startTestTenant(t.tenant.database, { managementRateLimitPerMinute: 3 });
      try {
        const first = await apiClient(limited, ['read:users']);
        const second = await apiClient(limited, ['read:users']);
        for (let i = 1; i <= 3; i++) {
          const res = await limited.request.get('/api/v2/users').set('authorization', `Bearer ${first.token}`);
          assert.equal(res.status, 200, `request ${i}`);
          assert.equal(res.headers['x-ratelimit-limit'], '3');
          assert.equal(res.headers['x-ratelimit-remaining'], String(3 - i));
        }
        const fourth = await limited.request.get('/api/v2/users').set('authorization', `Bearer ${first.token}`);
        assertAuth0Error(fourth, 429, 'too_many_requests', 'Global limit has been reached');
        assert.equal(fourth.headers['x-ratelimit-limit'], '3');
        assert.equal(fourth.headers['x-ratelimit-remaining'], '0');
        assert.match(String(fourth.headers['x-ratelimit-reset']), /^\d+$/);
        assert.ok(Number(fourth.headers['x-ratelimit-reset']) > Date.now() / 1000 - 1);
        // The limit is per client, and the OpenAPI document stays reachable.
        assert.equal((await limited.request.get('/api/v2/users').set('authorization', `Bearer ${second.token}`)).status, 200);
        assert.equal((await limited.request.get('/api/v2/openapi.json')).status, 200);
      } finally {
        await limited.close();
      }
    });

    it('rate limit: requests that never authenticate are limited per address; authenticated ones do not count against it', async () => {
      const limited = await startTestTenant(t.tenant.database, { managementRateLimitPerMinute: 3 });
      try {
        const good = await apiClient(limited, ['read:users']);
        for (let i = 0; i < 5; i++) {
          assert.equal((await limited.request.get('/api/v2/users').set('authorization', `Bearer ${good.token}`)).status, i < 3 ? 200 : 429);
        }
        for (let i = 1; i <= 3; i++) {
          assertAuth0Error(await limited.request.get('/api/v2/users').set('authorization', 'Bearer not.a.token'), 401, 'invalid_token');
        }
        assertAuth0Error(
          await limited.request.get('/api/v2/users').set('authorization', 'Bearer not.a.token'),
          429,
          'too_many_requests',
          'Global limit has been reached',
        );
        assertAuth0Error(await limited.request.get('/api/v2/users'), 429, 'too_many_requests', 'Global limit has been reached');
      } finally {
        await limited.close();
      }
    });
  });
}
