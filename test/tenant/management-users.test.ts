import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { isTenantError } from '../../src/tenant/tenant-errors.ts';
import { linkWithVerifier } from '../../src/tenant/management/link-with.ts';
import { managementRoutes } from '../../src/tenant/management/routes.ts';
import { testDatabases } from '../helpers/databases.ts';
import {
  api,
  apiClient,
  assertAuth0Error,
  createEmailUser,
  createSocialUser,
  enc,
  managementSuite,
  STRONG_PASSWORD,
  TEST_ACTOR,
  uniqueSub,
  type ApiClient,
} from '../helpers/management.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import type { TestTenant } from '../helpers/tenant.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const db of testDatabases()) {
  describe(`Management API: users, logs, connections, OpenAPI [${db.label}]`, () => {
    let t: TestTenant;
    let reader: ApiClient;
    let a: ReturnType<typeof api>;

    managementSuite(db, (started) => {
      ({ t, reader, a } = started);
    });

    // ------------------------------------------------------------ POST /users

    it("POST /users creates a passwordless user with Auth0's profile shape; GET /users/{id} returns it", async () => {
      const email = uniqueEmail('Create');
      const res = await a.post('/users', {
        connection: 'email',
        email,
        email_verified: true,
        name: 'Ada Lovelace',
        given_name: 'Ada',
        family_name: 'Lovelace',
        user_metadata: { theme: 'dark' },
        app_metadata: { plan: 'pro' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const user = res.body;
      assert.match(user.user_id, /^email\|[0-9a-f]{24}$/);
      assert.equal(user.email, email);
      assert.equal(user.email_verified, true);
      assert.equal(user.name, 'Ada Lovelace');
      assert.equal(user.given_name, 'Ada');
      assert.equal(user.family_name, 'Lovelace');
      assert.equal(user.nickname, email.slice(0, email.indexOf('@')));
      assert.equal(user.blocked, false);
      assert.equal(user.logins_count, 0);
      assert.match(user.created_at, ISO);
      assert.match(user.updated_at, ISO);
      assert.deepEqual(user.user_metadata, { theme: 'dark' });
      assert.deepEqual(user.app_metadata, { plan: 'pro' });
      assert.equal(user.identities.length, 1);
      const [main] = user.identities;
      assert.deepEqual(main, { provider: 'email', user_id: user.user_id.slice('email|'.length), connection: 'email', isSocial: false });
      assert.equal(`${main.provider}|${main.user_id}`, user.user_id);

      const fetched = await a.get(`/users/${enc(user.user_id)}`);
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.body, user);
    });

    it('POST /users creates a database user with a password and never returns the password or its hash', async () => {
      const email = uniqueEmail('db');
      const res = await a.post('/users', { connection: 'Username-Password-Authentication', email, password: STRONG_PASSWORD });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.user_id, /^auth0\|[0-9a-f]{24}$/);
      assert.deepEqual(res.body.identities, [
        {
          provider: 'auth0',
          user_id: res.body.user_id.slice(6),
          connection: 'Username-Password-Authentication',
          isSocial: false,
        },
      ]);
      assert.equal(res.body.email_verified, false);
      assert.doesNotMatch(res.text, /"password|password_hash|\$argon2|Correct-Horse/i);

      // The same address in another case is the same account in this connection.
      const duplicate = await a.post('/users', { connection: 'Username-Password-Authentication', email: email.toUpperCase(), password: STRONG_PASSWORD });
      assertAuth0Error(duplicate, 409, 'user_exists', 'The user already exists.');
    });

    it('POST /users refusals: social connection, unknown connection, missing or weak password, password on passwordless, bad email, scope', async () => {
      assertAuth0Error(await a.post('/users', { connection: 'google-oauth2', email: uniqueEmail() }), 400, 'operation_not_supported', /cannot be created here/);
      assertAuth0Error(await a.post('/users', { connection: 'no-such-connection', email: uniqueEmail() }), 400, 'inexistent_connection');
      assertAuth0Error(
        await a.post('/users', { connection: 'Username-Password-Authentication', email: uniqueEmail() }),
        400,
        'password_required',
        'A password is required for a database connection.',
      );
      assertAuth0Error(
        await a.post('/users', { connection: 'Username-Password-Authentication', email: uniqueEmail(), password: 'password' }),
        400,
        'password_strength_error',
        /^PasswordStrengthError: Password is too weak/,
      );
      assertAuth0Error(await a.post('/users', { connection: 'email', email: uniqueEmail(), password: STRONG_PASSWORD }), 400, 'invalid_body');
      assertAuth0Error(await a.post('/users', { connection: 'email', email: 'not-an-email' }), 400, 'invalid_body');
      assertAuth0Error(await a.post('/users', { connection: 'email' }), 400, 'invalid_body', /email/);
      const scoped = await api(t, reader.token).post('/users', { connection: 'email', email: uniqueEmail() });
      assertAuth0Error(scoped, 403, 'insufficient_scope', 'Insufficient scope, expected any of: create:users');
    });

    it('fills name, nickname and picture as Auth0 does, in every user body, with an avatar the tenant serves', async () => {
      const email = uniqueEmail('Grace.Hopper');
      const created = await a.post('/users', { connection: 'Username-Password-Authentication', email, password: STRONG_PASSWORD });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const user = created.body;
      assert.equal(user.name, email);
      assert.equal(user.nickname, email.slice(0, email.indexOf('@')));
      assert.equal(user.picture, `${t.tenant.config.url}/avatars/gh.svg`);
      for (const body of [
        (await a.get(`/users/${enc(user.user_id)}`)).body,
        (await a.get(`/users-by-email?email=${enc(email)}`)).body[0],
        (await a.get(`/users?q=${enc(`email:"${email}"`)}&search_engine=v3`)).body[0],
        (await a.patch(`/users/${enc(user.user_id)}`, { user_metadata: { a: 1 } })).body,
      ]) {
        assert.equal(body.picture, user.picture);
        assert.equal(body.name, email);
        assert.equal(body.nickname, user.nickname);
      }

      // A name given later changes the initials; a picture given wins.
      const named = await a.patch(`/users/${enc(user.user_id)}`, { name: 'Amazing Grace' });
      assert.equal(named.body.picture, `${t.tenant.config.url}/avatars/ag.svg`);
      const pictured = await a.patch(`/users/${enc(user.user_id)}`, { picture: 'https://images.example.com/grace.png' });
      assert.equal(pictured.body.picture, 'https://images.example.com/grace.png');

      const avatar = await t.request
        .get('/avatars/gh.svg')
        .buffer(true)
        .parse((res, done) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            text += chunk;
          });
          res.on('end', () => done(null, text));
        });
      assert.equal(avatar.status, 200);
      assert.match(avatar.headers['content-type']!, /^image\/svg\+xml/);
      assert.equal(avatar.headers['cross-origin-resource-policy'], 'cross-origin');
      assert.match(avatar.body as string, />GH<\/text>/);
      for (const bad of ['/avatars/GH.svg', '/avatars/abc.svg', '/avatars/gh.png', '/avatars/%3Cs%3E.svg']) {
        assert.equal((await t.request.get(bad)).status, 404, bad);
      }
    });

    // ------------------------------------------------------------ GET /users/{id}

    it('GET /users/{id} decodes a URL-encoded id (auth0%7C…), splits on the first | only, and 404s an unknown user', async () => {
      const user = await createEmailUser(t);
      const encoded = user.user_id.replace('|', '%7C');
      const res = await a.get(`/users/${encoded}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.user_id, user.user_id);

      const social = await createSocialUser(t);
      const bySocial = await a.get(`/users/${enc(social.user_id)}`);
      assert.equal(bySocial.status, 200);
      assert.deepEqual(bySocial.body.identities[0], {
        provider: 'google-oauth2',
        user_id: social.user_id.slice('google-oauth2|'.length),
        connection: 'google-oauth2',
        isSocial: true,
      });

      assertAuth0Error(await a.get('/users/auth0%7C000000000000000000000000'), 404, 'inexistent_user', 'The user does not exist.');
      assertAuth0Error(await a.get(`/users/${enc('auth0|x|with|pipes')}`), 404, 'inexistent_user');
    });

    it("GET /users/{id} with read:current_user is allowed for the token's own user only", async () => {
      const me = await createEmailUser(t);
      const other = await createEmailUser(t);
      const token = await t.userToken(me.user_id, ['read:current_user']);
      const own = await api(t, token).get(`/users/${enc(me.user_id)}`);
      assert.equal(own.status, 200);
      assert.equal(own.body.user_id, me.user_id);
      assertAuth0Error(
        await api(t, token).get(`/users/${enc(other.user_id)}`),
        403,
        'subject_mismatch',
        'User to be acted on does not match subject in bearer token.',
      );
      assertAuth0Error(await api(t, token).get('/users'), 403, 'insufficient_scope');
    });

    // ------------------------------------------------------------ GET /users?q=

    describe('GET /users search', () => {
      const domain = `search-${Date.now().toString(36)}.example`;
      let alice: string;
      let bob: string;
      let aliceSocial: string;
      let carol: string;
      const ids = (res: { body: Array<{ user_id: string }> }) => res.body.map((u) => u.user_id).sort();
      const search = async (q: string, extra = '') => {
        const res = await a.get(`/users?q=${enc(q)}&search_engine=v3${extra}`);
        assert.equal(res.status, 200, `${q}: ${JSON.stringify(res.body)}`);
        return res;
      };

      before(async () => {
        alice = (await createEmailUser(t, { email: `Alice@${domain}`, email_verified: true, name: 'Alice Example' })).user_id;
        bob = (await createEmailUser(t, { email: `bob@${domain}`, email_verified: false })).user_id;
        aliceSocial = (await createSocialUser(t, { email: `alice@${domain}`, email_verified: true })).user_id;
        carol = (await createEmailUser(t, { email: `carol"quote@${domain}`, email_verified: true })).user_id;
      });

      it('email:"x" matches case-insensitively across connections', async () => {
        assert.deepEqual(ids(await search(`email:"ALICE@${domain}"`)), [alice, aliceSocial].sort());
        assert.deepEqual(ids(await search(`email:alice@${domain}`)), [alice, aliceSocial].sort());
        assert.deepEqual(ids(await search(`email:"nobody@${domain}"`)), []);
      });

      it('email_verified:true, user_id:"x", identities.connection:"x", -field:"x" and AND combine', async () => {
        assert.deepEqual(ids(await search(`email:"bob@${domain}" AND email_verified:true`)), []);
        assert.deepEqual(ids(await search(`email:"bob@${domain}" AND email_verified:false`)), [bob]);
        assert.deepEqual(ids(await search(`user_id:"${alice}"`)), [alice]);
        assert.deepEqual(ids(await search(`identities.connection:"google-oauth2" AND email:"alice@${domain}"`)), [aliceSocial]);
        assert.deepEqual(ids(await search(`identities.connection:"email" AND email:"alice@${domain}"`)), [alice]);
        assert.deepEqual(ids(await search(`email:"alice@${domain}" -user_id:"${alice}"`)), [aliceSocial]);
        assert.deepEqual(ids(await search(`email:"alice@${domain}" AND -identities.connection:"google-oauth2"`)), [alice]);
        // Auth0's account-linking sample, verbatim.
        assert.deepEqual(ids(await search(`email:"alice@${domain}" AND email_verified:true -user_id:"${aliceSocial}"`)), [alice]);
        assert.deepEqual(ids(await search(`name:"alice example"`)), [alice]);
      });

      it('treats values as data: quotes, SQL and LIKE wildcards match nothing they should not', async () => {
        assert.deepEqual(ids(await search(`email:"carol\\"quote@${domain}"`)), [carol]);
        assert.deepEqual(ids(await search(`email:"x' OR '1'='1"`)), []);
        assert.deepEqual(ids(await search(`email:"%@${domain}"`)), []);
        assert.deepEqual(ids(await search(`email:"_lice@${domain}"`)), []);
        assert.deepEqual(ids(await search(`user_id:"${alice}' OR 1=1 --"`)), []);
      });

      it('include_totals=true returns {start, limit, length, total, users}; otherwise an array; pages are stable', async () => {
        const q = enc(`email:"alice@${domain}"`);
        const first = await a.get(`/users?q=${q}&page=0&per_page=1&include_totals=true`);
        assert.equal(first.status, 200);
        assert.deepEqual(Object.keys(first.body).sort(), ['length', 'limit', 'start', 'total', 'users']);
        assert.equal(first.body.start, 0);
        assert.equal(first.body.limit, 1);
        assert.equal(first.body.length, 1);
        assert.equal(first.body.total, 2);
        const second = await a.get(`/users?q=${q}&page=1&per_page=1&include_totals=true`);
        assert.deepEqual({ ...second.body, users: undefined }, { start: 1, limit: 1, length: 1, total: 2, users: undefined });
        assert.deepEqual([first.body.users[0].user_id, second.body.users[0].user_id].sort(), [alice, aliceSocial].sort());
        const third = await a.get(`/users?q=${q}&page=2&per_page=1&include_totals=true`);
        assert.deepEqual(third.body, { start: 2, limit: 1, length: 0, total: 2, users: [] });

        const plain = await a.get(`/users?q=${q}`);
        assert.ok(Array.isArray(plain.body));
        assert.equal(plain.body.length, 2);

        // What the auth0 SDK v5 sends by default.
        const sdk = await a.get('/users?page=0&per_page=50&include_totals=true');
        assert.equal(sdk.status, 200);
        assert.equal(sdk.body.limit, 50);
        assert.ok(sdk.body.total >= 4);

        const sorted = await a.get(`/users?q=${q}&sort=${enc('user_id:-1')}`);
        assert.deepEqual(
          sorted.body.map((u: { user_id: string }) => u.user_id),
          [alice, aliceSocial].sort().reverse(),
        );
      });

      it('per_page over 100, a bad page, a bad sort and a bad include_totals → 400 invalid_query_string', async () => {
        for (const query of ['per_page=101', 'per_page=0', 'per_page=abc', 'page=-1', 'include_totals=yes', 'sort=password:1', 'search_engine=v2']) {
          assertAuth0Error(await a.get(`/users?${query}`), 400, 'invalid_query_string', /^Query validation error/);
        }
        const ok = await a.get('/users?per_page=100');
        assert.equal(ok.status, 200);
      });

      it('a bad q → 400 invalid_query_string', async () => {
        const bad = [
          'email:',
          'email:""',
          'password:"x"',
          'app_metadata.role:"admin"',
          'email:"unterminated',
          '(email:"a@b.c")',
          'email:"a@b.c" OR email:"d@e.f"',
          'AND email:"a@b.c"',
          'email:"a@b.c" AND',
          'email_verified:yes',
          'user_id:ab*',
          'email:a*',
          'just words',
          Array.from({ length: 11 }, (_, i) => `email:"u${i}@x.com"`).join(' AND '),
        ];
        for (const q of bad) {
          assertAuth0Error(await a.get(`/users?q=${enc(q)}`), 400, 'invalid_query_string', /^Query validation error/);
        }
      });
    });

    // ------------------------------------------------------------ PATCH /users/{id}

    it('PATCH /users/{id} merges metadata at the top level: nested objects replaced, null deletes a key, {} clears', async () => {
      const user = await createEmailUser(t, {
        user_metadata: { theme: 'dark', prefs: { a: 1, b: 2 }, drop: 'me' },
        app_metadata: { plan: 'pro', roles: ['admin'] },
      });
      const path = `/users/${enc(user.user_id)}`;

      const merged = await a.patch(path, { user_metadata: { prefs: { c: 3 }, drop: null, added: [1, 2] } });
      assert.equal(merged.status, 200, JSON.stringify(merged.body));
      assert.deepEqual(merged.body.user_metadata, { theme: 'dark', prefs: { c: 3 }, added: [1, 2] });
      assert.deepEqual(merged.body.app_metadata, { plan: 'pro', roles: ['admin'] });

      const app = await a.patch(path, { app_metadata: { roles: null, tier: 2 } });
      assert.deepEqual(app.body.app_metadata, { plan: 'pro', tier: 2 });
      assert.deepEqual(app.body.user_metadata, { theme: 'dark', prefs: { c: 3 }, added: [1, 2] });

      const cleared = await a.patch(path, { user_metadata: {} });
      assert.deepEqual(cleared.body.user_metadata, {});
      assert.deepEqual(cleared.body.app_metadata, { plan: 'pro', tier: 2 });

      const fetched = await a.get(path);
      assert.deepEqual(fetched.body.user_metadata, {});
      assert.deepEqual(fetched.body.app_metadata, { plan: 'pro', tier: 2 });
    });

    describe('metadata limits: 10 levels, 16 kB of JSON per field (docs/security.md case 35)', () => {
      /** Metadata nesting `depth` levels, the metadata object itself being level 1. */
      const nestedMetadata = (depth: number): Record<string, unknown> => {
        let value: unknown = 'leaf';
        for (let level = depth; level > 1; level--) value = level % 2 === 0 ? [value] : { next: value };
        return { top: value };
      };
      /** Metadata whose JSON is exactly `bytes` bytes long. */
      const metadataOfSize = (bytes: number) => ({ blob: 'x'.repeat(bytes - '{"blob":""}'.length) });

      it('accepts 10 levels and refuses 11, on create and on update, for user_metadata and app_metadata; nothing is stored', async () => {
        for (const field of ['user_metadata', 'app_metadata'] as const) {
          const created = await a.post('/users', { connection: 'email', email: uniqueEmail(), [field]: nestedMetadata(10) });
          assert.equal(created.status, 201, JSON.stringify(created.body));
          assert.deepEqual(created.body[field], nestedMetadata(10));
          const email = uniqueEmail();
          assertAuth0Error(
            await a.post('/users', { connection: 'email', email, [field]: nestedMetadata(11) }),
            400,
            'metadata_too_deep',
            `Payload validation error: ${field} nests objects and arrays more than 10 levels deep (the ${field} object itself is level 1).`,
          );
          assert.deepEqual((await a.get(`/users-by-email?email=${enc(email)}`)).body, [], 'no user was created');

          const user = await createEmailUser(t, { user_metadata: { keep: 1 }, app_metadata: { keep: 2 } });
          const path = `/users/${enc(user.user_id)}`;
          assert.equal((await a.patch(path, { [field]: nestedMetadata(10) })).status, 200);
          // One field valid, the other too deep: neither is written.
          const other = field === 'user_metadata' ? 'app_metadata' : 'user_metadata';
          assertAuth0Error(await a.patch(path, { [other]: { fine: true }, [field]: nestedMetadata(11), name: 'Changed' }), 400, 'metadata_too_deep');
          const after = (await a.get(path)).body;
          assert.deepEqual(after[field], { keep: field === 'user_metadata' ? 1 : 2, ...nestedMetadata(10) });
          assert.equal(after[other].fine, undefined);
          assert.notEqual(after.name, 'Changed');
        }
      });

      it('accepts 16,384 bytes of JSON per field and refuses more, counting the merged result; a change may shrink a value stored over the limit', async () => {
        const user = await createEmailUser(t);
        const path = `/users/${enc(user.user_id)}`;
        assert.equal((await a.patch(path, { user_metadata: metadataOfSize(16_384) })).status, 200);
        assert.equal((await a.patch(path, { app_metadata: metadataOfSize(16_384) })).status, 200, 'each field has its own limit');
        assertAuth0Error(
          await a.patch(path, { user_metadata: metadataOfSize(16_385) }),
          400,
          'metadata_too_large',
          'Payload validation error: user_metadata would be 16385 bytes as JSON; at most 16384 are allowed.',
        );
        // Growing it key by key: the merged value counts.
        assertAuth0Error(await a.patch(path, { user_metadata: { more: 'y' } }), 400, 'metadata_too_large');
        assert.equal(JSON.stringify((await a.get(path)).body.user_metadata).length, 16_384, 'unchanged');
        assertAuth0Error(
          await a.post('/users', { connection: 'email', email: uniqueEmail(), app_metadata: metadataOfSize(16_385) }),
          400,
          'metadata_too_large',
        );
        // Multi-byte characters count as the bytes they take.
        assertAuth0Error(await a.patch(path, { user_metadata: { blob: 'é'.repeat(8200) } }), 400, 'metadata_too_large');

        // A value stored before the limits existed (written past the API) stays readable and may only shrink.
        const legacy = JSON.stringify({ big: 'z'.repeat(30_000), other: 1 });
        await t.tenant.database.db.updateTable('users').set({ user_metadata: legacy }).where('user_id', '=', user.user_id).execute();
        assert.equal((await a.get(path)).status, 200);
        assertAuth0Error(await a.patch(path, { user_metadata: { added: 'more' } }), 400, 'metadata_too_large');
        const shrunk = await a.patch(path, { user_metadata: { other: null } });
        assert.equal(shrunk.status, 200, JSON.stringify(shrunk.body));
        assert.deepEqual(Object.keys(shrunk.body.user_metadata), ['big']);
        assert.deepEqual((await a.patch(path, { user_metadata: { big: null, small: 1 } })).body.user_metadata, { small: 1 });
      });

      it('the directory enforces them without HTTP: a value nested 100,000 levels is metadata_too_deep, not a RangeError', async () => {
        let deep: unknown = 1;
        for (let i = 0; i < 100_000; i++) deep = [deep];
        const user = await createEmailUser(t);
        await assert.rejects(t.tenant.directory.updateUser(user.user_id, { user_metadata: { deep } }, TEST_ACTOR), (err: unknown) =>
          isTenantError(err, 'metadata_too_deep'),
        );
        await assert.rejects(t.tenant.directory.createUser({ connection: 'email', email: uniqueEmail(), app_metadata: { deep } }, TEST_ACTOR), (err: unknown) =>
          isTenantError(err, 'metadata_too_deep'),
        );
        assert.deepEqual((await a.get(`/users/${enc(user.user_id)}`)).body.user_metadata, {});
      });

      it('GET /openapi.json and the README document the limits', async () => {
        const openapi = JSON.stringify((await t.request.get('/api/v2/openapi.json')).body);
        assert.ok(openapi.includes('10 levels of nesting (this object is level 1) and 16384 bytes as JSON once merged'), 'the OpenAPI document says it');
        const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
        assert.match(readme, /`user_metadata` and `app_metadata`[^.]*10 levels/);
        assert.match(readme, /16 kB|16,384 bytes/);
      });
    });

    it('PATCH /users/{id} updates root attributes; a new email is unverified unless said otherwise; refusals', async () => {
      const user = await createEmailUser(t, { name: 'Old Name' });
      const path = `/users/${enc(user.user_id)}`;
      const res = await a.patch(path, { name: 'New Name', given_name: 'New', family_name: null, blocked: true });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.name, 'New Name');
      assert.equal(res.body.given_name, 'New');
      assert.equal(res.body.blocked, true);
      assert.ok(res.body.updated_at >= user.updated_at);

      const newEmail = uniqueEmail('moved');
      const moved = await a.patch(path, { email: newEmail });
      assert.equal(moved.body.email, newEmail);
      assert.equal(moved.body.email_verified, false);
      const verified = await a.patch(path, { email: uniqueEmail('moved'), email_verified: true });
      assert.equal(verified.body.email_verified, true);

      const other = await createEmailUser(t);
      assertAuth0Error(await a.patch(path, { email: other.email!.toUpperCase() }), 409, 'user_exists');
      assertAuth0Error(await a.patch(path, { password: STRONG_PASSWORD }), 400, 'operation_not_supported');
      assertAuth0Error(await a.patch(path, { user_id: 'auth0|hijack' }), 400, 'invalid_body', /Additional properties not allowed: user_id/);
      assertAuth0Error(await a.patch(path, { user_metadata: 'x' }), 400, 'invalid_body');
      assertAuth0Error(await a.patch('/users/email%7Cnobody', { name: 'x' }), 404, 'inexistent_user');
      assertAuth0Error(
        await api(t, reader.token).patch(path, { name: 'x' }),
        403,
        'insufficient_scope',
        'Insufficient scope, expected any of: update:users,update:current_user_metadata',
      );
    });

    // ------------------------------------------------------------ DELETE /users/{id}

    it('DELETE /users/{id} → 204 with no body, then 404; the user leaves GET /users and users-by-email', async () => {
      const user = await createEmailUser(t);
      const path = `/users/${enc(user.user_id)}`;
      assertAuth0Error(await api(t, reader.token).delete(path), 403, 'insufficient_scope', 'Insufficient scope, expected any of: delete:users');
      const res = await a.delete(path);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assertAuth0Error(await a.get(path), 404, 'inexistent_user');
      assertAuth0Error(await a.delete(path), 404, 'inexistent_user');
      const search = await a.get(`/users?q=${enc(`user_id:"${user.user_id}"`)}`);
      assert.deepEqual(search.body, []);
      const byEmail = await a.get(`/users-by-email?email=${enc(user.email!)}`);
      assert.deepEqual(byEmail.body, []);
    });

    // ------------------------------------------------------------ GET /users-by-email

    it('GET /users-by-email returns every user with that email across connections, immediately, oldest first', async () => {
      const email = uniqueEmail('shared');
      assert.deepEqual((await a.get(`/users-by-email?email=${enc(email)}`)).body, []);
      const created = await a.post('/users', { connection: 'email', email });
      const social = await createSocialUser(t, { email });
      const res = await a.get(`/users-by-email?email=${enc(email)}`);
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.map((u: { user_id: string }) => u.user_id),
        [created.body.user_id, social.user_id],
      );
      assert.deepEqual(res.body[0], created.body);
      assertAuth0Error(
        await api(t, await t.userToken(social.user_id, ['read:current_user'])).get(`/users-by-email?email=${enc(email)}`),
        403,
        'insufficient_scope',
        'Insufficient scope, expected any of: read:users',
      );
    });

    // ------------------------------------------------------------ logs

    it('GET /logs and GET /users/{id}/logs: newest first, paged, include_totals; unknown user 404; read:logs required', async () => {
      const user = await a.post('/users', { connection: 'email', email: uniqueEmail('logged') });
      const path = `/users/${enc(user.body.user_id)}`;
      await a.patch(path, { name: 'One' });
      await a.patch(path, { name: 'Two' });
      await a.patch(path, { name: 'Three' });

      const mine = await a.get(`${path}/logs`);
      assert.equal(mine.status, 200);
      assert.deepEqual(
        mine.body.map((e: { type: string }) => e.type),
        ['user.updated', 'user.updated', 'user.updated', 'user.created'],
      );
      assert.ok(mine.body.every((e: { user_id: string }) => e.user_id === user.body.user_id));
      const dates = mine.body.map((e: { date: string }) => e.date);
      assert.deepEqual(dates, [...dates].sort().reverse());
      for (const event of mine.body) {
        assert.deepEqual(Object.keys(event).sort(), ['actor', 'client_id', 'date', 'description', 'details', 'log_id', 'type', 'user_id']);
      }

      const paged = await a.get(`${path}/logs?page=1&per_page=2&include_totals=true`);
      assert.deepEqual(Object.keys(paged.body).sort(), ['length', 'limit', 'logs', 'start', 'total']);
      assert.equal(paged.body.total, 4);
      assert.equal(paged.body.start, 2);
      assert.equal(paged.body.limit, 2);
      assert.equal(paged.body.length, 2);
      assert.deepEqual(
        paged.body.logs.map((e: { log_id: string }) => e.log_id),
        mine.body.slice(2).map((e: { log_id: string }) => e.log_id),
      );

      const all = await a.get('/logs?per_page=4');
      assert.equal(all.status, 200);
      assert.deepEqual(
        all.body.map((e: { log_id: string }) => e.log_id),
        mine.body.map((e: { log_id: string }) => e.log_id),
      );
      const allTotals = await a.get('/logs?include_totals=true&per_page=1');
      assert.ok(allTotals.body.total >= 4);
      assert.equal(allTotals.body.logs.length, 1);

      assertAuth0Error(await a.get('/users/email%7Cnobody/logs'), 404, 'inexistent_user');
      assertAuth0Error(await a.get('/logs?per_page=500'), 400, 'invalid_query_string');
      assertAuth0Error(await api(t, reader.token).get('/logs'), 403, 'insufficient_scope', 'Insufficient scope, expected any of: read:logs');
      assertAuth0Error(await api(t, reader.token).get(`${path}/logs`), 403, 'insufficient_scope');
      const logsUsers = await apiClient(t, ['read:logs_users']);
      assert.equal((await api(t, logsUsers.token).get(`${path}/logs`)).status, 200);
    });

    // ------------------------------------------------------------ connections

    it('GET /connections lists con_… ids, filters by strategy and name, and never shows a client secret', async () => {
      const res = await a.get('/connections');
      assert.equal(res.status, 200);
      // demo-social: the built-in demo IdP, on in tests (config.demoIdp).
      assert.deepEqual(res.body.map((c: { name: string }) => c.name).sort(), ['Username-Password-Authentication', 'demo-social', 'email', 'google-oauth2']);
      for (const connection of res.body) {
        assert.match(connection.id, /^con_[A-Za-z0-9]{16}$/);
        assert.deepEqual(connection.realms, [connection.name]);
      }
      assert.equal(new Set(res.body.map((c: { id: string }) => c.id)).size, 4);
      assert.doesNotMatch(res.text, /client_secret|test-secret/);
      const demoSecret = (t.tenant.directory.connections.byName('demo-social')!.config as { client_secret?: string }).client_secret!;
      assert.ok(!res.text.includes(demoSecret), 'nor the demo IdP client secret');
      const google = res.body.find((c: { name: string }) => c.name === 'google-oauth2');
      assert.equal(google.strategy, 'oidc');
      assert.equal(google.options.client_id, 'test-client');

      const oidc = await a.get('/connections?strategy=oidc');
      assert.deepEqual(oidc.body.map((c: { name: string }) => c.name).sort(), ['demo-social', 'google-oauth2']);
      const named = await a.get('/connections?name=email');
      assert.deepEqual(
        named.body.map((c: { name: string }) => c.name),
        ['email'],
      );
      assertAuth0Error(await a.get('/connections?strategy=saml'), 400, 'invalid_query_string');
      assertAuth0Error(await api(t, reader.token).get('/connections'), 403, 'insufficient_scope', 'Insufficient scope, expected any of: read:connections');
    });

    // ------------------------------------------------------------ OpenAPI

    it('GET /openapi.json needs no token and documents every route managementRoutes() defines', async () => {
      const res = await t.request.get('/api/v2/openapi.json');
      assert.equal(res.status, 200);
      const doc = res.body as {
        openapi: string;
        servers: Array<{ url: string }>;
        paths: Record<
          string,
          Record<
            string,
            {
              operationId: string;
              requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
              parameters: Array<{ name: string; in: string }>;
              responses: Record<string, unknown>;
            }
          >
        >;
      };
      assert.match(doc.openapi, /^3\./);
      assert.equal(doc.servers[0]!.url, `${t.tenant.config.url}/api/v2`);

      const routes = managementRoutes({
        directory: t.tenant.directory,
        connections: t.tenant.directory.connections,
        verifyLinkWith: linkWithVerifier(t.tenant.keys.signing),
        shown: (user) => user,
      });
      assert.ok(routes.length >= 11);
      let documented = 0;
      for (const route of routes) {
        const path = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
        const operation = doc.paths[path]?.[route.method];
        assert.ok(operation, `${route.method.toUpperCase()} ${path} is not in openapi.json`);
        documented++;
        assert.equal(operation.operationId, route.operationId);
        assert.ok(operation.responses[String(route.status)], `${route.method} ${path} lacks its ${route.status} response`);
        for (const name of path.match(/\{([A-Za-z_]+)\}/g) ?? []) {
          assert.ok(
            operation.parameters.some((p) => p.in === 'path' && `{${p.name}}` === name),
            `${route.method} ${path} lacks path parameter ${name}`,
          );
        }
        if (route.body) {
          const schema = operation.requestBody?.content['application/json']?.schema;
          assert.ok(schema, `${route.method} ${path} has a body but no requestBody`);
          assert.equal(schema.additionalProperties, false, `${route.method} ${path} requestBody allows additional properties`);
        }
      }
      const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
      assert.equal(operations, documented, 'openapi.json documents operations that are not routes');

      const postUsers = doc.paths['/users']!.post!.requestBody!.content['application/json']!.schema as {
        additionalProperties: unknown;
        required: string[];
        properties: Record<string, unknown>;
      };
      assert.equal(postUsers.additionalProperties, false);
      assert.ok(postUsers.required.includes('connection'));
      assert.ok('password' in postUsers.properties);
      assert.ok(doc.paths['/users/{id}/identities']?.post);
      assert.ok(doc.paths['/users/{id}/identities/{provider}/{user_id}']?.delete);
    });

    // ------------------------------------------------------------ audit

    it('audit: create, update, delete, link and unlink each log an event with the actor client:<client_id> and the ids involved', async () => {
      const auditor = await apiClient(t, ['create:users', 'update:users', 'delete:users', 'read:logs']);
      const x = api(t, auditor.token);
      const actor = `client:${auditor.clientId}`;
      const latest = async (userId: string, type: string) => {
        const res = await x.get(`/logs?per_page=100`);
        assert.equal(res.status, 200);
        const event = res.body.find((e: { type: string; user_id: string }) => e.type === type && e.user_id === userId);
        assert.ok(event, `no ${type} event for ${userId}`);
        assert.equal(event.actor, actor);
        assert.equal(event.client_id, auditor.clientId);
        assert.match(event.date, ISO);
        return event as { details: Record<string, unknown>; description: string };
      };

      const created = await x.post('/users', { connection: 'email', email: uniqueEmail('audit') });
      assert.equal(created.status, 201);
      const primaryId: string = created.body.user_id;
      assert.deepEqual((await latest(primaryId, 'user.created')).details, { user_id: primaryId, connection: 'email' });

      await x.patch(`/users/${enc(primaryId)}`, { name: 'Audited', user_metadata: { k: 1 } });
      const updated = await latest(primaryId, 'user.updated');
      assert.equal(updated.details.user_id, primaryId);
      assert.deepEqual(updated.details.changed, ['name', 'user_metadata:k']);

      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub });
      const linked = await x.post(`/users/${enc(primaryId)}/identities`, { provider: 'google-oauth2', user_id: sub });
      assert.equal(linked.status, 201, JSON.stringify(linked.body));
      const linkEvent = await latest(primaryId, 'identity.linked');
      assert.equal(linkEvent.details.primary_id, primaryId);
      assert.equal(linkEvent.details.secondary_id, secondary.user_id);
      assert.equal(linkEvent.details.provider, 'google-oauth2');
      assert.equal(linkEvent.details.identity_user_id, sub);

      const unlinked = await x.delete(`/users/${enc(primaryId)}/identities/google-oauth2/${sub}`);
      assert.equal(unlinked.status, 200, JSON.stringify(unlinked.body));
      const unlinkEvent = await latest(primaryId, 'identity.unlinked');
      assert.equal(unlinkEvent.details.primary_id, primaryId);
      assert.equal(unlinkEvent.details.secondary_id, secondary.user_id);
      assert.equal(unlinkEvent.details.restored_metadata, false);

      assert.equal((await x.delete(`/users/${enc(primaryId)}`)).status, 204);
      const deleted = await latest(primaryId, 'user.deleted');
      assert.deepEqual(deleted.details, { user_id: primaryId, identities: [primaryId] });

      // The secrets of none of this are in the log.
      const everything = await x.get('/logs?per_page=100');
      assert.doesNotMatch(everything.text, /eyJ|Bearer|password_hash|argon2/);
    });
  });
}
