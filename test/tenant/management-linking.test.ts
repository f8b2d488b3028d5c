import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';
import { testDatabases } from '../helpers/databases.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';
import { api, apiClient, assertAuth0Error, createEmailUser, createSocialUser, enc, managementSuite, uniqueSub, type ApiClient } from '../helpers/management.ts';
import { listen, type TestTenant } from '../helpers/tenant.ts';

const APP_CLIENT = 'spa-client-for-linking';

for (const db of testDatabases()) {
  describe(`Management API: linking and unlinking [${db.label}]`, () => {
    let t: TestTenant;
    let admin: ApiClient;
    let reader: ApiClient;
    let a: ReturnType<typeof api>;

    /** The id_token a secondary account's login would give the app that calls the API as `caller`. */
    const linkWithFor = (secondaryId: string, audience: string) => t.idToken(secondaryId, audience);
    const getUser = async (userId: string): Promise<UserProfile> => {
      const res = await a.get(`/users/${enc(userId)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as UserProfile;
    };
    const identitiesPath = (primaryId: string) => `/users/${enc(primaryId)}/identities`;

    managementSuite(db, (started) => {
      ({ t, admin, reader, a } = started);
    });

    // ------------------------------------------------------------ link effects

    it('link_with (client-credentials, update:users): 201 + identities; secondary appended with profileData; secondary deleted; primary unchanged', async () => {
      const primary = await createEmailUser(t, { name: 'Primary Person', user_metadata: { p: 1 }, app_metadata: { role: 'owner' } });
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub, name: 'Secondary Person', user_metadata: { s: 1 }, app_metadata: { s: 2 } });
      const before = await getUser(primary.user_id);

      const res = await a.post(identitiesPath(primary.user_id), { link_with: await linkWithFor(secondary.user_id, admin.clientId) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual(res.body, [
        before.identities[0],
        {
          provider: 'google-oauth2',
          user_id: sub,
          connection: 'google-oauth2',
          isSocial: true,
          profileData: { email: secondary.email, email_verified: true, name: 'Secondary Person', nickname: secondary.nickname },
        },
      ]);

      // The secondary user is gone: 404 by id, absent from search and from users-by-email.
      assertAuth0Error(await a.get(`/users/${enc(secondary.user_id)}`), 404, 'inexistent_user');
      assert.deepEqual((await a.get(`/users?q=${enc(`user_id:"${secondary.user_id}"`)}`)).body, []);
      assert.deepEqual((await a.get(`/users-by-email?email=${enc(secondary.email!)}`)).body, []);

      // The primary keeps its id, root attributes and metadata; only identities and updated_at change.
      const afterLink = await getUser(primary.user_id);
      assert.deepEqual({ ...afterLink, identities: [], updated_at: '' }, { ...before, identities: [], updated_at: '' });
      assert.deepEqual(afterLink.identities, res.body);
      assert.deepEqual(afterLink.user_metadata, { p: 1 });
      assert.deepEqual(afterLink.app_metadata, { role: 'owner' });
      assert.equal(afterLink.identities[0]!.provider + '|' + afterLink.identities[0]!.user_id, primary.user_id);
      // Logging in through the secondary identity now resolves to the primary.
      assert.equal((await t.tenant.directory.findByIdentity('google-oauth2', sub))?.user_id, primary.user_id);
      // The primary is found by the identity's connection now.
      const found = await a.get(`/users?q=${enc(`identities.user_id:"${sub}"`)}`);
      assert.deepEqual(
        found.body.map((u: UserProfile) => u.user_id),
        [primary.user_id],
      );
      await assertDirectoryInvariant(t.tenant.database);
    });

    it('link by {provider, user_id, connection_id} and by a numeric user_id → 201', async () => {
      const connections = await a.get('/connections?name=google-oauth2');
      const connectionId: string = connections.body[0].id;
      const primary = await createEmailUser(t);

      const sub1 = uniqueSub();
      await createSocialUser(t, { sub: sub1 });
      const byString = await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub1, connection_id: connectionId });
      assert.equal(byString.status, 201, JSON.stringify(byString.body));
      assert.deepEqual(
        byString.body.map((i: { user_id: string }) => i.user_id),
        [primary.user_id.slice(6), sub1],
      );

      const sub2 = uniqueSub();
      await createSocialUser(t, { sub: sub2 });
      const byNumber = await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: Number(sub2) });
      assert.equal(byNumber.status, 201, JSON.stringify(byNumber.body));
      assert.deepEqual(
        byNumber.body.map((i: { user_id: string }) => i.user_id),
        [primary.user_id.slice(6), sub1, sub2],
      );
      assert.equal(typeof byNumber.body[2].user_id, 'string');
      assertAuth0Error(await a.get(`/users/google-oauth2%7C${sub2}`), 404, 'inexistent_user');

      // A connection_id that is not the identity's connection: not found.
      const emailConnection = (await a.get('/connections?name=email')).body[0].id as string;
      const sub3 = uniqueSub();
      await createSocialUser(t, { sub: sub3 });
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub3, connection_id: emailConnection }),
        400,
        'link_secondary_not_found',
        'Provided secondary account not found.',
      );
      assert.equal((await getUser(`google-oauth2|${sub3}`)).identities.length, 1);
    });

    it('link_with from the user itself (update:current_user_identities, aud = its app) → 201; a passwordless secondary works too', async () => {
      const primary = await createSocialUser(t);
      const secondary = await createEmailUser(t, { name: 'Email Self' });
      const token = await t.userToken(primary.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      const res = await api(t, token).post(identitiesPath(primary.user_id), { link_with: await linkWithFor(secondary.user_id, APP_CLIENT) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.length, 2);
      assert.deepEqual(res.body[1], {
        provider: 'email',
        user_id: secondary.user_id.slice('email|'.length),
        connection: 'email',
        isSocial: false,
        profileData: { email: secondary.email, email_verified: true, name: 'Email Self', nickname: secondary.nickname },
      });
      assertAuth0Error(await a.get(`/users/${enc(secondary.user_id)}`), 404, 'inexistent_user');
    });

    // ------------------------------------------------------------ unlink effects

    it('unlink → 200 + remaining identities; the identity becomes a standalone provider|user_id user with no metadata', async () => {
      const primary = await createEmailUser(t, { user_metadata: { p: 1 } });
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub, name: 'Comes Back', user_metadata: { lost: true }, app_metadata: { gone: true } });
      assert.equal((await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub })).status, 201);

      const res = await a.delete(`${identitiesPath(primary.user_id)}/google-oauth2/${sub}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, [primary.identities[0]]);

      const restored = await getUser(`google-oauth2|${sub}`);
      assert.equal(restored.user_id, secondary.user_id);
      assert.deepEqual(restored.identities, [{ provider: 'google-oauth2', user_id: sub, connection: 'google-oauth2', isSocial: true }]);
      assert.equal(restored.email, secondary.email);
      assert.equal(restored.email_verified, true);
      assert.equal(restored.name, 'Comes Back');
      assert.deepEqual(restored.user_metadata, {});
      assert.deepEqual(restored.app_metadata, {});
      const primaryAfter = await getUser(primary.user_id);
      assert.deepEqual(primaryAfter.identities, [primary.identities[0]]);
      assert.deepEqual(primaryAfter.user_metadata, { p: 1 });
      assert.equal((await t.tenant.directory.findByIdentity('google-oauth2', sub))?.user_id, secondary.user_id);
      await assertDirectoryInvariant(t.tenant.database);
    });

    it("unlink ?restore_metadata=true restores the secondary's metadata from the link snapshot", async () => {
      const primary = await createEmailUser(t);
      const sub = uniqueSub();
      await createSocialUser(t, { sub, user_metadata: { color: 'blue', nested: { a: 1 } }, app_metadata: { plan: 'free' } });
      assert.equal((await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub })).status, 201);
      const res = await a.delete(`${identitiesPath(primary.user_id)}/google-oauth2/${sub}?restore_metadata=true`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const restored = await getUser(`google-oauth2|${sub}`);
      assert.deepEqual(restored.user_metadata, { color: 'blue', nested: { a: 1 } });
      assert.deepEqual(restored.app_metadata, { plan: 'free' });
    });

    it('unlink by the user itself (update:current_user_identities) → 200; for another user → 403', async () => {
      const primary = await createEmailUser(t);
      const other = await createEmailUser(t);
      const sub = uniqueSub();
      await createSocialUser(t, { sub });
      assert.equal((await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub })).status, 201);

      const otherToken = await t.userToken(other.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      assertAuth0Error(
        await api(t, otherToken).delete(`${identitiesPath(primary.user_id)}/google-oauth2/${sub}`),
        403,
        'subject_mismatch',
        'User to be acted on does not match subject in bearer token.',
      );
      assert.equal((await getUser(primary.user_id)).identities.length, 2);

      const ownToken = await t.userToken(primary.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      const res = await api(t, ownToken).delete(`${identitiesPath(primary.user_id)}/google-oauth2/${sub}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.length, 1);
    });

    it('unlink refusals: main identity 400, identity not on this user 404, unknown primary 404, bad query 400, scope 403', async () => {
      const primary = await createEmailUser(t);
      const mainUserId = primary.user_id.slice('email|'.length);
      assertAuth0Error(
        await a.delete(`${identitiesPath(primary.user_id)}/email/${mainUserId}`),
        400,
        'unlink_main_identity',
        'Main identity cannot be removed.',
      );
      const stranger = await createSocialUser(t);
      assertAuth0Error(
        await a.delete(`${identitiesPath(primary.user_id)}/google-oauth2/${stranger.user_id.split('|')[1]}`),
        404,
        'inexistent_identity',
        'The identity does not exist on this user.',
      );
      assertAuth0Error(await a.delete(`${identitiesPath('email|000000000000000000000000')}/google-oauth2/1`), 404, 'inexistent_user');
      assertAuth0Error(await a.delete(`${identitiesPath(primary.user_id)}/email/${mainUserId}?restore_metadata=yes`), 400, 'invalid_query_string');
      assertAuth0Error(await a.delete(`${identitiesPath(primary.user_id)}/email/${mainUserId}?force=true`), 400, 'invalid_query_string');
      assertAuth0Error(
        await api(t, reader.token).delete(`${identitiesPath(primary.user_id)}/email/${mainUserId}`),
        403,
        'insufficient_scope',
        'Insufficient scope, expected any of: update:users,update:current_user_identities',
      );
      assert.deepEqual((await getUser(primary.user_id)).identities, primary.identities);
      assert.deepEqual((await getUser(stranger.user_id)).identities, stranger.identities);
    });

    // ------------------------------------------------------------ link refusals

    it('case 10: self-link → 400 "Main identity and the new one are the same." (link_with and provider/user_id)', async () => {
      const user = await createSocialUser(t);
      assertAuth0Error(
        await a.post(identitiesPath(user.user_id), { link_with: await linkWithFor(user.user_id, admin.clientId) }),
        400,
        'link_self',
        'Main identity and the new one are the same.',
      );
      assertAuth0Error(
        await a.post(identitiesPath(user.user_id), { provider: 'google-oauth2', user_id: user.user_id.split('|')[1] }),
        400,
        'link_self',
        'Main identity and the new one are the same.',
      );
      assert.deepEqual(await getUser(user.user_id), user);
    });

    it('unknown secondary → 400 "Provided secondary account not found."', async () => {
      const primary = await createEmailUser(t);
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: '999000111' }),
        400,
        'link_secondary_not_found',
        'Provided secondary account not found.',
      );
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { provider: 'nope', user_id: 42 }),
        400,
        'link_secondary_not_found',
        'Provided secondary account not found.',
      );
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { link_with: await linkWithFor('google-oauth2|999000111', admin.clientId) }),
        400,
        'link_secondary_not_found',
        'Provided secondary account not found.',
      );
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { link_with: await linkWithFor('no-pipe-here', admin.clientId) }),
        400,
        'link_secondary_not_found',
      );
      assert.deepEqual((await getUser(primary.user_id)).identities, primary.identities);
    });

    it('case 10: a secondary that has linked identities of its own → 400 "Unable to link with the secondary account."', async () => {
      const primary = await createEmailUser(t);
      const middle = await createSocialUser(t);
      const leafSub = uniqueSub();
      await createSocialUser(t, { sub: leafSub });
      assert.equal((await a.post(identitiesPath(middle.user_id), { provider: 'google-oauth2', user_id: leafSub })).status, 201);
      const middleBefore = await getUser(middle.user_id);

      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { link_with: await linkWithFor(middle.user_id, admin.clientId) }),
        400,
        'link_secondary_has_identities',
        /^Unable to link with the secondary account\b/,
      );
      assertAuth0Error(
        await a.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: middle.user_id.split('|')[1] }),
        400,
        'link_secondary_has_identities',
        /^Unable to link with the secondary account\b/,
      );
      assert.deepEqual(await getUser(middle.user_id), middleBefore);
      assert.deepEqual((await getUser(primary.user_id)).identities, primary.identities);
    });

    it('case 9: an identity already linked to a third user → 409 "Specified identity already exists."; that user unchanged', async () => {
      const third = await createEmailUser(t, { user_metadata: { mine: true } });
      const sub = uniqueSub();
      const taken = await createSocialUser(t, { sub });
      assert.equal((await a.post(identitiesPath(third.user_id), { provider: 'google-oauth2', user_id: sub })).status, 201);
      const thirdBefore = await getUser(third.user_id);
      const attacker = await createEmailUser(t);

      assertAuth0Error(
        await a.post(identitiesPath(attacker.user_id), { provider: 'google-oauth2', user_id: sub }),
        409,
        'link_identity_in_use',
        'Specified identity already exists.',
      );
      assertAuth0Error(
        await a.post(identitiesPath(attacker.user_id), { link_with: await linkWithFor(taken.user_id, admin.clientId) }),
        409,
        'link_identity_in_use',
        'Specified identity already exists.',
      );
      // Linking it again into its owner is no different.
      assertAuth0Error(
        await a.post(identitiesPath(third.user_id), { provider: 'google-oauth2', user_id: sub }),
        409,
        'link_identity_in_use',
        'Specified identity already exists.',
      );

      assert.deepEqual(await getUser(third.user_id), thirdBefore);
      assert.deepEqual((await getUser(attacker.user_id)).identities, attacker.identities);
      await assertDirectoryInvariant(t.tenant.database);
    });

    it('unknown primary → 404 inexistent_user; the secondary is untouched', async () => {
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub });
      assertAuth0Error(
        await a.post(identitiesPath('auth0|000000000000000000000000'), { provider: 'google-oauth2', user_id: sub }),
        404,
        'inexistent_user',
        'The user does not exist.',
      );
      assertAuth0Error(
        await a.post(identitiesPath('auth0|000000000000000000000000'), { link_with: await linkWithFor(secondary.user_id, admin.clientId) }),
        404,
        'inexistent_user',
      );
      assert.deepEqual(await getUser(secondary.user_id), secondary);
    });

    it('both body forms, neither, half a form, or extra fields → 400', async () => {
      const primary = await createEmailUser(t);
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub });
      const linkWith = await linkWithFor(secondary.user_id, admin.clientId);
      const path = identitiesPath(primary.user_id);
      const ambiguous = 'Provide either link_with, or provider and user_id, but not both.';
      assertAuth0Error(await a.post(path, { link_with: linkWith, provider: 'google-oauth2', user_id: sub }), 400, 'link_body_ambiguous', ambiguous);
      assertAuth0Error(await a.post(path, { link_with: linkWith, user_id: sub }), 400, 'link_body_ambiguous', ambiguous);
      assertAuth0Error(await a.post(path, {}), 400, 'link_body_ambiguous', ambiguous);
      assertAuth0Error(await a.post(path, { provider: 'google-oauth2' }), 400, 'invalid_body', /provider and user_id are both required/);
      assertAuth0Error(await a.post(path, { user_id: sub }), 400, 'invalid_body', /provider and user_id are both required/);
      assertAuth0Error(await a.post(path, { connection_id: 'con_abc' }), 400, 'link_body_ambiguous');
      assertAuth0Error(await a.post(path, { provider: 'google-oauth2', user_id: sub, connection_id: 'google-oauth2' }), 400, 'invalid_body');
      assertAuth0Error(await a.post(path, { provider: 'google-oauth2', user_id: -1 }), 400, 'invalid_body');
      assertAuth0Error(await a.post(path, { provider: 'google-oauth2', user_id: 1.5 }), 400, 'invalid_body');
      assertAuth0Error(
        await a.post(path, { provider: 'google-oauth2', user_id: sub, extra: 1 }),
        400,
        'invalid_body',
        /Additional properties not allowed: extra/,
      );
      assertAuth0Error(await a.post(path, { link_with: 42 }), 400, 'invalid_body');
      assertAuth0Error(await a.post(path, { link_with: '' }), 400, 'invalid_body');
      assert.deepEqual(await getUser(secondary.user_id), secondary);
    });

    it('insufficient scope → 403 "Insufficient scope, expected any of: …"', async () => {
      const primary = await createEmailUser(t);
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub });
      const expected = 'Insufficient scope, expected any of: update:users,update:current_user_identities';
      const r = api(t, reader.token);
      assertAuth0Error(await r.post(identitiesPath(primary.user_id), { provider: 'google-oauth2', user_id: sub }), 403, 'insufficient_scope', expected);
      assertAuth0Error(
        await r.post(identitiesPath(primary.user_id), { link_with: await linkWithFor(secondary.user_id, reader.clientId) }),
        403,
        'insufficient_scope',
        expected,
      );
      const userNoScope = await t.userToken(primary.user_id, ['read:current_user'], { clientId: APP_CLIENT });
      assertAuth0Error(
        await api(t, userNoScope).post(identitiesPath(primary.user_id), { link_with: await linkWithFor(secondary.user_id, APP_CLIENT) }),
        403,
        'insufficient_scope',
        expected,
      );
      assert.deepEqual(await getUser(secondary.user_id), secondary);
    });

    it("case 12: update:current_user_identities acting on another user's id → 403 subject mismatch; victim unchanged", async () => {
      const attacker = await createEmailUser(t);
      const victim = await createEmailUser(t, { user_metadata: { secret: 'v' } });
      const attackerSocial = await createSocialUser(t);
      const victimBefore = await getUser(victim.user_id);
      const token = await t.userToken(attacker.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      const x = api(t, token);
      const mismatch = 'User to be acted on does not match subject in bearer token.';
      assertAuth0Error(
        await x.post(identitiesPath(victim.user_id), { link_with: await linkWithFor(attackerSocial.user_id, APP_CLIENT) }),
        403,
        'subject_mismatch',
        mismatch,
      );
      assertAuth0Error(
        await x.post(identitiesPath(victim.user_id), { provider: 'google-oauth2', user_id: attackerSocial.user_id.split('|')[1] }),
        403,
        'subject_mismatch',
        mismatch,
      );
      // A client-credentials token holding only the self scope has no user: every path is "another user".
      const selfOnlyClient = await apiClient(t, ['update:current_user_identities']);
      assertAuth0Error(
        await api(t, selfOnlyClient.token).post(identitiesPath(victim.user_id), {
          link_with: await linkWithFor(attackerSocial.user_id, selfOnlyClient.clientId),
        }),
        403,
        'subject_mismatch',
        mismatch,
      );
      assert.deepEqual(await getUser(victim.user_id), victimBefore);
      assert.deepEqual(await getUser(attackerSocial.user_id), attackerSocial);
    });

    it('the provider/user_id form with only update:current_user_identities → 403 (server-side only)', async () => {
      const me = await createEmailUser(t);
      const sub = uniqueSub();
      const secondary = await createSocialUser(t, { sub });
      const token = await t.userToken(me.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      assertAuth0Error(
        await api(t, token).post(identitiesPath(me.user_id), { provider: 'google-oauth2', user_id: sub }),
        403,
        'insufficient_scope',
        'Insufficient scope, expected any of: update:users',
      );
      assert.deepEqual(await getUser(secondary.user_id), secondary);
      assert.deepEqual((await getUser(me.user_id)).identities, me.identities);
    });

    it("case 11: the primary comes from the path under the token's own subject; a primary in the body is refused, not used", async () => {
      const attacker = await createEmailUser(t);
      const victim = await createEmailUser(t);
      const attackerSocial = await createSocialUser(t);
      const victimBefore = await getUser(victim.user_id);
      const token = await t.userToken(attacker.user_id, ['update:current_user_identities'], { clientId: APP_CLIENT });
      const linkWith = await linkWithFor(attackerSocial.user_id, APP_CLIENT);
      for (const field of ['primary_id', 'user', 'primary_user_id']) {
        assertAuth0Error(
          await api(t, token).post(identitiesPath(attacker.user_id), { link_with: linkWith, [field]: victim.user_id }),
          400,
          'invalid_body',
          new RegExp(`Additional properties not allowed: ${field}`),
        );
      }
      assertAuth0Error(
        await api(t, token).post(identitiesPath(attacker.user_id), { link_with: linkWith, user_id: victim.user_id }),
        400,
        'link_body_ambiguous',
      );
      assertAuth0Error(await api(t, token).post(identitiesPath(victim.user_id), { link_with: linkWith }), 403, 'subject_mismatch');
      assert.deepEqual(await getUser(victim.user_id), victimBefore);
      assert.deepEqual(await getUser(attackerSocial.user_id), attackerSocial);

      // With a clean body, the link lands on the token's own subject and nowhere else.
      const ok = await api(t, token).post(identitiesPath(attacker.user_id), { link_with: linkWith });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal((await getUser(attacker.user_id)).identities.length, 2);
      assert.deepEqual(await getUser(victim.user_id), victimBefore);
    });

    // ------------------------------------------------------------ concurrency

    it('case 15: two concurrent links of the same secondary into two primaries → exactly one 201, the other 4xx; invariant holds', async () => {
      const server = await listen(t.tenant);
      try {
        for (let round = 0; round < 6; round++) {
          const p1 = await createEmailUser(t);
          const p2 = await createEmailUser(t);
          const sub = uniqueSub();
          const secondary = await createSocialUser(t, { sub });
          // Alternate forms so both code paths race: link_with against provider/user_id.
          const bodies = [
            round % 2 === 0 ? { link_with: await linkWithFor(secondary.user_id, admin.clientId) } : { provider: 'google-oauth2', user_id: sub },
            { provider: 'google-oauth2', user_id: sub },
          ];
          const responses = await Promise.all(
            [p1, p2].map(async (primary, i) => {
              const res = await fetch(`${server.url}/api/v2${identitiesPath(primary.user_id)}`, {
                method: 'POST',
                headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
                body: JSON.stringify(bodies[i]),
              });
              return { status: res.status, body: (await res.json()) as Record<string, unknown> };
            }),
          );
          const statuses = responses.map((r) => r.status);
          assert.equal(statuses.filter((s) => s === 201).length, 1, `round ${round}: ${JSON.stringify(responses)}`);
          const loser = responses.find((r) => r.status !== 201)!;
          assert.ok(loser.status >= 400 && loser.status < 500, `round ${round}: ${JSON.stringify(loser)}`);
          assert.deepEqual(Object.keys(loser.body).sort(), ['error', 'errorCode', 'message', 'statusCode']);
          assert.ok(['link_identity_in_use', 'link_secondary_not_found', 'conflict'].includes(String(loser.body.errorCode)), JSON.stringify(loser.body));

          const winner = statuses[0] === 201 ? p1 : p2;
          const other = winner === p1 ? p2 : p1;
          const owner = await t.tenant.directory.findByIdentity('google-oauth2', sub);
          assert.equal(owner?.user_id, winner.user_id);
          assert.equal(owner?.identities.length, 2);
          assert.deepEqual((await getUser(other.user_id)).identities, other.identities);
          assertAuth0Error(await a.get(`/users/${enc(secondary.user_id)}`), 404, 'inexistent_user');
          await assertDirectoryInvariant(t.tenant.database);
        }
      } finally {
        await server.close();
      }
    });
  });
}
