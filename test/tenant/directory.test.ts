import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { SYSTEM_ACTOR } from '../../src/tenant/directory/audit.ts';
import type { CreateUserInput, Directory } from '../../src/tenant/directory/directory.ts';
import { verifyPassword } from '../../src/tenant/directory/passwords.ts';
import type { UserProfile } from '../../src/tenant/directory/profile.ts';
import { testDatabases } from '../helpers/databases.ts';
import { ACTOR, identityOwners, openDirectory, rejectsWith } from '../helpers/directory.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';

const DB_CONNECTION = 'Username-Password-Authentication';
const STRONG = 'Correct-Horse-42';

/** `provider|rest` split on the first `|`, as Auth0 does. */
function keyOf(userId: string): { provider: string; identityUserId: string } {
  const i = userId.indexOf('|');
  return { provider: userId.slice(0, i), identityUserId: userId.slice(i + 1) };
}

/** A profile without the fields a link or unlink is allowed to touch on the primary. */
function stable(profile: UserProfile) {
  const { updated_at: _updatedAt, identities: _identities, ...rest } = profile;
  return rest;
}

for (const db of testDatabases()) {
  describe(`Directory [${db.label}]`, () => {
    let database: Database;
    let directory: Directory;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ database, directory, cleanup } = await openDirectory(db));
    });
    after(async () => {
      await cleanup();
    });
    // Every test leaves the directory consistent, whether it mutated it or was refused.
    afterEach(async () => {
      await assertDirectoryInvariant(database);
    });

    const passwordless = (label: string, extra: Partial<CreateUserInput> = {}) =>
      directory.createUser({ connection: 'email', email: uniqueEmail(label), email_verified: true, ...extra }, ACTOR);

    describe('createUser', () => {
      it('creates a database user: password required, strength enforced, stored only as an argon2 hash', async () => {
        const email = uniqueEmail('db-user');
        await rejectsWith(directory.createUser({ connection: DB_CONNECTION, email }, ACTOR), 'password_required');
        for (const weak of ['Sh0rt!', 'alllowercaseletters', 'lowerUPPERonly', 'lower1234567', `${'aA1'.repeat(86)}x`]) {
          await rejectsWith(directory.createUser({ connection: DB_CONNECTION, email, password: weak }, ACTOR), 'password_strength_error');
        }
        assert.deepEqual(await directory.findByEmail(email), [], 'a refused create stores nothing');

        const user = await directory.createUser({ connection: DB_CONNECTION, email, password: STRONG, user_metadata: { theme: 'dark' } }, ACTOR);
        assert.match(user.user_id, /^auth0\|[0-9a-f]{24}$/);
        assert.deepEqual(user.identities, [{ provider: 'auth0', user_id: keyOf(user.user_id).identityUserId, connection: DB_CONNECTION, isSocial: false }]);
        assert.equal(user.email, email);
        assert.equal(user.email_verified, false);
        assert.equal(user.name, email, 'name defaults to the email');
        assert.equal(user.nickname, email.slice(0, email.indexOf('@')));
        assert.equal(user.blocked, false);
        assert.equal(user.logins_count, 0);
        assert.deepEqual(user.user_metadata, { theme: 'dark' });
        assert.deepEqual(user.app_metadata, {});
        assert.deepEqual(await directory.getUser(user.user_id), user, 'the returned profile is what was stored');

        const credentials = await database.db
          .selectFrom('credentials')
          .selectAll()
          .where('provider', '=', 'auth0')
          .where('user_id', '=', keyOf(user.user_id).identityUserId)
          .execute();
        assert.equal(credentials.length, 1);
        assert.match(credentials[0]!.password_hash, /^\$argon2id\$/);
        assert.ok(await verifyPassword(credentials[0]!.password_hash, STRONG));
        assert.equal(await verifyPassword(credentials[0]!.password_hash, `${STRONG}x`), false);
        const stored = JSON.stringify(await directory.getUser(user.user_id));
        assert.doesNotMatch(stored, /Correct-Horse|argon2|password_hash/, 'the profile never carries the password or its hash');
        const row = await database.db.selectFrom('users').selectAll().where('user_id', '=', user.user_id).executeTakeFirstOrThrow();
        assert.doesNotMatch(JSON.stringify(row), /Correct-Horse|argon2/);
      });

      it('creates a passwordless user in the email connection and refuses a password there', async () => {
        const email = uniqueEmail('pwless');
        await rejectsWith(directory.createUser({ connection: 'email', email, password: STRONG }, ACTOR), 'invalid_body');
        const user = await directory.createUser({ connection: 'email', email, email_verified: true, given_name: 'Ada' }, ACTOR);
        assert.match(user.user_id, /^email\|[0-9a-f]{24}$/);
        assert.deepEqual(user.identities, [{ provider: 'email', user_id: keyOf(user.user_id).identityUserId, connection: 'email', isSocial: false }]);
        assert.equal(user.email_verified, true);
        assert.equal(user.given_name, 'Ada');
        const credentials = await database.db.selectFrom('credentials').selectAll().where('provider', '=', 'email').execute();
        assert.equal(credentials.length, 0, 'passwordless users have no credentials');
      });

      it('refuses a missing or malformed email and an unknown connection', async () => {
        await rejectsWith(directory.createUser({ connection: 'email' }, ACTOR), 'invalid_body');
        for (const email of ['no-at-sign', 'two@@x.com', 'a b@x.com', 'a@nodot', `${'a'.repeat(320)}@x.com`]) {
          await rejectsWith(directory.createUser({ connection: 'email', email }, ACTOR), 'invalid_body');
        }
        await rejectsWith(directory.createUser({ connection: 'nope', email: uniqueEmail('x') }, ACTOR), 'inexistent_connection');
      });

      it('refuses OIDC connections in createUser but creates federated users, with oidc|<connection>|<sub> for generic OIDC', async () => {
        await rejectsWith(directory.createUser({ connection: 'google-oauth2', email: uniqueEmail('g') }, ACTOR), 'operation_not_supported');
        await rejectsWith(directory.createUser({ connection: 'corp-sso', email: uniqueEmail('c') }, ACTOR), 'operation_not_supported');
        await rejectsWith(directory.createFederatedUser({ connection: 'email', sub: 'x', email: uniqueEmail('e') }, ACTOR), 'operation_not_supported');
        await rejectsWith(directory.createFederatedUser({ connection: 'nope', sub: 'x' }, ACTOR), 'inexistent_connection');

        const google = await directory.createFederatedUser(
          { connection: 'google-oauth2', sub: '115015401343387192604', email: uniqueEmail('g'), email_verified: true },
          ACTOR,
        );
        assert.equal(google.user_id, 'google-oauth2|115015401343387192604');
        assert.deepEqual(google.identities, [{ provider: 'google-oauth2', user_id: '115015401343387192604', connection: 'google-oauth2', isSocial: true }]);

        const corp = await directory.createFederatedUser({ connection: 'corp-sso', sub: 'emp-7', email: uniqueEmail('c') }, ACTOR);
        assert.equal(corp.user_id, 'oidc|corp-sso|emp-7');
        assert.deepEqual(corp.identities, [{ provider: 'oidc', user_id: 'corp-sso|emp-7', connection: 'corp-sso', isSocial: true }]);
        assert.equal((await directory.findByIdentity('oidc', 'corp-sso|emp-7'))?.user_id, corp.user_id);
        assert.equal((await directory.getUser('oidc|corp-sso|emp-7')).user_id, corp.user_id);

        await rejectsWith(directory.createFederatedUser({ connection: 'google-oauth2', sub: '115015401343387192604' }, ACTOR), 'user_exists');
        // Federated accounts are keyed by sub, not email: two upstream accounts may share an address.
        const shared = uniqueEmail('shared');
        await directory.createFederatedUser({ connection: 'google-oauth2', sub: 'g-shared-1', email: shared }, ACTOR);
        await directory.createFederatedUser({ connection: 'google-oauth2', sub: 'g-shared-2', email: shared }, ACTOR);
        assert.equal((await directory.findByEmail(shared)).length, 2);
      });

      it('refuses a second user with the same (normalized) email in one connection, but not in another', async () => {
        const email = uniqueEmail('dup');
        const first = await directory.createUser({ connection: 'email', email }, ACTOR);
        await rejectsWith(directory.createUser({ connection: 'email', email }, ACTOR), 'user_exists');
        await rejectsWith(directory.createUser({ connection: 'email', email: email.toUpperCase() }, ACTOR), 'user_exists');
        const other = await directory.createUser({ connection: DB_CONNECTION, email, password: STRONG }, ACTOR);
        const found = await directory.findByEmail(email);
        assert.deepEqual(
          found.map((u) => u.user_id),
          [first.user_id, other.user_id],
        );
      });
    });

    describe('reads', () => {
      it('getUser, findUser, findByEmail and findByIdentity', async () => {
        const email = uniqueEmail('reader');
        const a = await directory.createUser({ connection: 'email', email, email_verified: true }, ACTOR);
        const b = await directory.createFederatedUser({ connection: 'google-oauth2', sub: `reader-${Date.now()}`, email: email.toUpperCase() }, ACTOR);

        assert.deepEqual(await directory.getUser(a.user_id), a);
        assert.deepEqual(await directory.findUser(a.user_id), a);
        assert.equal(await directory.findUser('email|000000000000000000000000'), undefined);
        await rejectsWith(directory.getUser('email|000000000000000000000000'), 'inexistent_user');
        await rejectsWith(directory.getUser('no-pipe-at-all'), 'inexistent_user');

        assert.deepEqual(
          (await directory.findByEmail(email)).map((u) => u.user_id),
          [a.user_id, b.user_id],
          'oldest first, case-insensitive',
        );
        assert.deepEqual(await directory.findByEmail(uniqueEmail('nobody')), []);

        const { provider, identityUserId } = keyOf(a.user_id);
        assert.deepEqual(await directory.findByIdentity(provider, identityUserId), a);
        assert.equal(await directory.findByIdentity('email', 'missing'), undefined);
        assert.equal(await directory.findByIdentity('auth0', identityUserId), undefined, 'the provider is part of the key');

        // A linked identity is found through its owner, the primary.
        await directory.link(b.user_id, { userId: a.user_id }, ACTOR);
        assert.equal((await directory.findByIdentity(provider, identityUserId))?.user_id, b.user_id);
        assert.equal(await directory.findUser(a.user_id), undefined);
      });
    });

    describe('listUsers', () => {
      // A marker of our own keeps these queries to the users this block creates.
      const tag = `lst${process.pid}x`;
      const users: Record<string, UserProfile> = {};

      before(async () => {
        users.alpha = await directory.createUser({ connection: 'email', email: `${tag}-alpha@example.com`, email_verified: true, name: `${tag} Alpha` }, ACTOR);
        users.bravo = await directory.createUser(
          { connection: 'email', email: `${tag}-bravo@example.com`, email_verified: false, name: `${tag} Bravo` },
          ACTOR,
        );
        users.charlie = await directory.createFederatedUser(
          { connection: 'google-oauth2', sub: `${tag}-charlie`, email: `${tag}-charlie@example.com`, email_verified: true, name: `${tag} Charlie` },
          ACTOR,
        );
        users.delta = await directory.createFederatedUser(
          { connection: 'corp-sso', sub: `${tag}-delta`, email: `${tag}-Delta@Example.com`, name: `${tag} Delta` },
          ACTOR,
        );
        users.echo = await directory.createUser(
          { connection: 'email', email: `${tag}-echo@example.com`, email_verified: true, name: `${tag} Echo`, blocked: true },
          ACTOR,
        );
        // Echo links a Google account: searching by the linked identity finds the primary.
        const linked = await directory.createFederatedUser(
          { connection: 'google-oauth2', sub: `${tag}-echo-google`, email: `${tag}-echo-g@example.com`, name: `${tag} EchoG` },
          ACTOR,
        );
        await directory.link(users.echo.user_id, { userId: linked.user_id }, ACTOR);
      });

      const ids = async (q: string, sort: { field: 'name' | 'email' | 'user_id' | 'created_at'; direction: 1 | -1 } = { field: 'name', direction: 1 }) =>
        (await directory.listUsers({ q: `name:${tag}* AND ${q}`, page: 0, perPage: 100, sort })).users.map((u) => u.name);

      it('searches by email (case-insensitive), email_verified and user_id', async () => {
        assert.deepEqual(await ids(`email:"${tag}-ALPHA@example.com"`), [`${tag} Alpha`]);
        assert.deepEqual(await ids(`email:${tag}-delta@example.com`), [`${tag} Delta`]);
        assert.deepEqual(await ids('email_verified:true'), [`${tag} Alpha`, `${tag} Charlie`, `${tag} Echo`]);
        assert.deepEqual(await ids('email_verified:false'), [`${tag} Bravo`, `${tag} Delta`]);
        assert.deepEqual(await ids(`user_id:"${users.charlie!.user_id}"`), [`${tag} Charlie`]);
        assert.deepEqual(await ids(`user_id:"${users.delta!.user_id}"`), [`${tag} Delta`], 'a user_id with two pipes');
        assert.deepEqual(await ids('blocked:true'), [`${tag} Echo`]);
        assert.deepEqual(await ids(`email:${tag}-al*`), [`${tag} Alpha`], 'email prefix');
      });

      it('searches by name, exact or by prefix, case-insensitively', async () => {
        const all = (await directory.listUsers({ q: `name:${tag}*`, page: 0, perPage: 100 })).users.map((u) => u.name).sort();
        assert.deepEqual(all, [`${tag} Alpha`, `${tag} Bravo`, `${tag} Charlie`, `${tag} Delta`, `${tag} Echo`]);
        assert.deepEqual(await ids(`name:"${tag.toUpperCase()} bravo"`), [`${tag} Bravo`]);
        assert.deepEqual(await ids(`name:"${tag} ch"`), [], 'an exact match needs the whole name');
        const byPrefix = await directory.listUsers({ q: `name:${tag.toUpperCase()}*`, page: 0, perPage: 100 });
        assert.equal(byPrefix.total, 5);
      });

      it('finds a name with non-ASCII capitals as stored, and in ASCII case variants, on every database', async () => {
        const elodie = await passwordless('elodie', { name: `Élodie Ünal ${tag}` });
        try {
          const find = async (q: string) => (await directory.listUsers({ q: `${q} AND user_id:"${elodie.user_id}"`, page: 0, perPage: 10 })).total;
          assert.equal(await find(`name:"Élodie Ünal ${tag}"`), 1, 'exactly as stored');
          assert.equal(await find(`name:"ÉLODIE ÜNAL ${tag.toUpperCase()}"`), 1, 'ASCII letters in another case');
          assert.equal(await find('name:Élodie*'), 1, 'prefix as stored');
          assert.equal(await find('name:ÉLODIE*'), 1, 'prefix in another case');
          assert.equal(await find('name:"Élodie*"'), 0, 'a quoted * is literal');
          assert.equal(await find('name:"Élodie"'), 0, 'an exact match needs the whole name');
        } finally {
          await directory.deleteUser(elodie.user_id, ACTOR);
        }
      });

      it('searches by identities.connection, identities.provider and identities.user_id, linked identities included', async () => {
        assert.deepEqual(await ids('identities.connection:email'), [`${tag} Alpha`, `${tag} Bravo`, `${tag} Echo`]);
        assert.deepEqual(await ids('identities.connection:"google-oauth2"'), [`${tag} Charlie`, `${tag} Echo`]);
        assert.deepEqual(await ids('identities.provider:oidc'), [`${tag} Delta`]);
        assert.deepEqual(await ids('identities.provider:google-oauth2'), [`${tag} Charlie`, `${tag} Echo`]);
        assert.deepEqual(await ids(`identities.user_id:"corp-sso|${tag}-delta"`), [`${tag} Delta`]);
        assert.deepEqual(await ids(`identities.user_id:${tag}-echo-google`), [`${tag} Echo`]);
      });

      it('supports negation (-field and NOT field) and AND', async () => {
        assert.deepEqual(await ids('-email_verified:true'), [`${tag} Bravo`, `${tag} Delta`]);
        assert.deepEqual(await ids('NOT identities.connection:email'), [`${tag} Charlie`, `${tag} Delta`]);
        assert.deepEqual(await ids(`email_verified:true AND -user_id:"${users.alpha!.user_id}"`), [`${tag} Charlie`, `${tag} Echo`]);
        assert.deepEqual(await ids(`email_verified:true identities.connection:email -blocked:true`), [`${tag} Alpha`], 'whitespace means AND');
        assert.deepEqual(await ids(`-email:"${tag}-alpha@example.com" AND -email:"${tag}-bravo@example.com"`), [
          `${tag} Charlie`,
          `${tag} Delta`,
          `${tag} Echo`,
        ]);
        assert.deepEqual(await ids(`-name:"${tag} alpha"`), [`${tag} Bravo`, `${tag} Charlie`, `${tag} Delta`, `${tag} Echo`]);
        // The sample's own query: verified, same email, not the current user.
        assert.deepEqual(await ids(`email:"${tag}-alpha@example.com" AND email_verified:true -user_id:"${users.alpha!.user_id}"`), []);
      });

      it('a negated email or name also matches users without one', async () => {
        const anonymous = await directory.createFederatedUser({ connection: 'corp-sso', sub: `${tag}-anon` }, ACTOR);
        try {
          const page = await directory.listUsers({ q: `-email:"${tag}-alpha@example.com" AND user_id:"${anonymous.user_id}"`, page: 0, perPage: 10 });
          assert.deepEqual(
            page.users.map((u) => u.user_id),
            [anonymous.user_id],
          );
          const noName = await directory.listUsers({ q: `-name:"x" AND user_id:"${anonymous.user_id}"`, page: 0, perPage: 10 });
          assert.deepEqual(
            noName.users.map((u) => u.user_id),
            [anonymous.user_id],
          );
        } finally {
          await directory.deleteUser(anonymous.user_id, ACTOR);
        }
      });

      it('pages, sorts both ways and reports the total of the whole match', async () => {
        const q = `name:${tag}*`;
        const names = [`${tag} Alpha`, `${tag} Bravo`, `${tag} Charlie`, `${tag} Delta`, `${tag} Echo`];
        const pages = [];
        for (let page = 0; page < 3; page++) {
          pages.push(await directory.listUsers({ q, page, perPage: 2, sort: { field: 'name', direction: 1 } }));
        }
        assert.deepEqual(
          pages.map((p) => p.total),
          [5, 5, 5],
        );
        assert.deepEqual(
          pages.map((p) => p.users.map((u) => u.name)),
          [names.slice(0, 2), names.slice(2, 4), names.slice(4)],
        );
        const beyond = await directory.listUsers({ q, page: 9, perPage: 2 });
        assert.deepEqual(beyond, { users: [], total: 5 });

        const desc = await directory.listUsers({ q, page: 0, perPage: 100, sort: { field: 'name', direction: -1 } });
        assert.deepEqual(
          desc.users.map((u) => u.name),
          [...names].reverse(),
        );
        const byEmail = await directory.listUsers({ q, page: 0, perPage: 100, sort: { field: 'email', direction: 1 } });
        assert.deepEqual(
          byEmail.users.map((u) => u.email),
          [...byEmail.users.map((u) => u.email!)].sort(),
        );
        const byCreated = await directory.listUsers({ q, page: 0, perPage: 100 });
        const created = byCreated.users.map((u) => u.created_at);
        assert.deepEqual(created, [...created].sort(), 'created_at ascending by default');
        // Profiles from a listing are complete, identities included.
        const echo = byCreated.users.find((u) => u.user_id === users.echo!.user_id)!;
        assert.equal(echo.identities.length, 2);
        assert.deepEqual(echo, await directory.getUser(echo.user_id));
      });

      it('without q lists everyone, and an invalid q is refused with invalid_query_string', async () => {
        const all = await directory.listUsers({ page: 0, perPage: 100 });
        const { users: count } = await assertDirectoryInvariant(database);
        assert.equal(all.total, count);
        await rejectsWith(directory.listUsers({ q: 'email:a OR email:b', page: 0, perPage: 10 }), 'invalid_query_string');
        await rejectsWith(directory.listUsers({ q: 'password:x', page: 0, perPage: 10 }), 'invalid_query_string');
      });
    });

    describe('updateUser', () => {
      it('merges metadata at the top level: nested objects replaced, null deletes a key, {} clears', async () => {
        const user = await passwordless('meta', {
          user_metadata: { color: 'red', prefs: { a: 1, b: 2 }, drop: true, list: [1, 2, 3] },
          app_metadata: { roles: ['admin'], plan: 'pro' },
        });
        const updated = await directory.updateUser(
          user.user_id,
          {
            user_metadata: { prefs: { a: 9 }, drop: null, added: 'yes', list: [4] },
          },
          ACTOR,
        );
        assert.deepEqual(updated.user_metadata, { color: 'red', prefs: { a: 9 }, added: 'yes', list: [4] });
        assert.deepEqual(updated.app_metadata, { roles: ['admin'], plan: 'pro' }, 'untouched when not given');
        const cleared = await directory.updateUser(user.user_id, { app_metadata: {} }, ACTOR);
        assert.deepEqual(cleared.app_metadata, {});
        assert.deepEqual(cleared.user_metadata, updated.user_metadata);
        assert.deepEqual(await directory.getUser(user.user_id), cleared);
        const deletingMissing = await directory.updateUser(user.user_id, { user_metadata: { never: null } }, ACTOR);
        assert.deepEqual(deletingMissing.user_metadata, updated.user_metadata);
      });

      it('an email change resets email_verified unless it is given, and keeps emails unique per connection', async () => {
        const user = await passwordless('mover');
        assert.equal(user.email_verified, true);
        const next = uniqueEmail('moved');
        const moved = await directory.updateUser(user.user_id, { email: next }, ACTOR);
        assert.equal(moved.email, next);
        assert.equal(moved.email_verified, false);
        assert.deepEqual(
          (await directory.findByEmail(next.toUpperCase())).map((u) => u.user_id),
          [user.user_id],
        );
        assert.deepEqual(await directory.findByEmail(user.email!), []);

        const verified = await directory.updateUser(user.user_id, { email: uniqueEmail('moved-again'), email_verified: true }, ACTOR);
        assert.equal(verified.email_verified, true);
        const sameAgain = await directory.updateUser(user.user_id, { email: verified.email! }, ACTOR);
        assert.equal(sameAgain.email_verified, true, 'the same address is not a change');

        const other = await passwordless('taken');
        await rejectsWith(directory.updateUser(user.user_id, { email: other.email!.toUpperCase() }, ACTOR), 'user_exists');
        await rejectsWith(directory.updateUser(user.user_id, { email: 'not-an-email' }, ACTOR), 'invalid_body');
        assert.equal((await directory.getUser(user.user_id)).email, verified.email, 'a refused change changes nothing');
      });

      it('changes the password of database users only', async () => {
        const user = await directory.createUser({ connection: DB_CONNECTION, email: uniqueEmail('pw'), password: STRONG }, ACTOR);
        const { identityUserId } = keyOf(user.user_id);
        const hashOf = async () =>
          (
            await database.db
              .selectFrom('credentials')
              .select('password_hash')
              .where('provider', '=', 'auth0')
              .where('user_id', '=', identityUserId)
              .executeTakeFirstOrThrow()
          ).password_hash;
        const before = await hashOf();
        await rejectsWith(directory.updateUser(user.user_id, { password: 'weak' }, ACTOR), 'password_strength_error');
        assert.equal(await hashOf(), before);
        await directory.updateUser(user.user_id, { password: 'Another-Pass-7' }, ACTOR);
        const after = await hashOf();
        assert.notEqual(after, before);
        assert.ok(await verifyPassword(after, 'Another-Pass-7'));
        assert.equal(await verifyPassword(after, STRONG), false);

        const pwless = await passwordless('no-pw');
        await rejectsWith(directory.updateUser(pwless.user_id, { password: 'Another-Pass-7' }, ACTOR), 'operation_not_supported');
        const federated = await directory.createFederatedUser({ connection: 'google-oauth2', sub: `pw-${Date.now()}` }, ACTOR);
        await rejectsWith(directory.updateUser(federated.user_id, { password: 'Another-Pass-7' }, ACTOR), 'operation_not_supported');
        const count = await database.db
          .selectFrom('credentials')
          .select((eb) => eb.fn.countAll<number | string>().as('n'))
          .where('provider', '!=', 'auth0')
          .executeTakeFirstOrThrow();
        assert.equal(Number(count.n), 0);
      });

      it('sets blocked and root attributes (null removes one), refuses unknown users, and a no-op changes nothing', async () => {
        const user = await passwordless('attrs', { name: 'Old Name', given_name: 'Old' });
        const blocked = await directory.updateUser(user.user_id, { blocked: true, name: 'New Name', given_name: null, family_name: 'Fam' }, ACTOR);
        assert.equal(blocked.blocked, true);
        assert.equal(blocked.name, 'New Name');
        assert.equal(blocked.given_name, undefined);
        assert.equal(blocked.family_name, 'Fam');
        assert.deepEqual(await directory.getUser(user.user_id), blocked);
        const unblocked = await directory.updateUser(user.user_id, { blocked: false }, ACTOR);
        assert.equal(unblocked.blocked, false);
        const same = await directory.updateUser(user.user_id, { name: 'New Name', blocked: false }, ACTOR);
        assert.equal(same.updated_at, unblocked.updated_at);
        await rejectsWith(directory.updateUser('email|000000000000000000000000', { name: 'x' }, ACTOR), 'inexistent_user');
      });
    });

    describe('deleteUser', () => {
      it('deletes the user with every identity it owns and their credentials', async () => {
        const primary = await directory.createUser({ connection: DB_CONNECTION, email: uniqueEmail('del-p'), password: STRONG }, ACTOR);
        const secondaryDb = await directory.createUser({ connection: DB_CONNECTION, email: uniqueEmail('del-s'), password: STRONG }, ACTOR);
        const secondaryEmail = await passwordless('del-e');
        await directory.link(primary.user_id, { userId: secondaryDb.user_id }, ACTOR);
        await directory.link(primary.user_id, { userId: secondaryEmail.user_id }, ACTOR);
        const keys = [primary, secondaryDb, secondaryEmail].map((u) => keyOf(u.user_id));

        await directory.deleteUser(primary.user_id, ACTOR);
        await rejectsWith(directory.getUser(primary.user_id), 'inexistent_user');
        for (const { provider, identityUserId } of keys) {
          assert.equal(await directory.findByIdentity(provider, identityUserId), undefined);
          const identity = await database.db
            .selectFrom('identities')
            .select('owner_id')
            .where('provider', '=', provider)
            .where('user_id', '=', identityUserId)
            .executeTakeFirst();
          assert.equal(identity, undefined);
          const credential = await database.db
            .selectFrom('credentials')
            .select('user_id')
            .where('provider', '=', provider)
            .where('user_id', '=', identityUserId)
            .executeTakeFirst();
          assert.equal(credential, undefined);
        }
        await rejectsWith(directory.deleteUser(primary.user_id, ACTOR), 'inexistent_user');
        // The identities are free again: signing up with the same email works.
        await passwordless('del-again', { email: secondaryEmail.email });
      });
    });

    describe('link', () => {
      it('moves the secondary main identity into the primary with its root attributes as profileData and deletes the secondary', async () => {
        const primary = await passwordless('primary', { name: 'Primary Person', user_metadata: { color: 'red' }, app_metadata: { roles: ['Admin'] } });
        const secondary = await directory.createFederatedUser(
          {
            connection: 'google-oauth2',
            sub: `sec-${Date.now()}`,
            email: uniqueEmail('secondary'),
            email_verified: true,
            name: 'Secondary Person',
            given_name: 'Sec',
            family_name: 'Ondary',
            picture: 'https://example.com/p.png',
            phone_number: '+14258831929',
            phone_verified: true,
            user_metadata: { color: 'blue', secondaryOnly: 1 },
            app_metadata: { roles: ['User'] },
          },
          ACTOR,
        );
        const owners = await identityOwners(database);

        const identities = await directory.link(primary.user_id, { userId: secondary.user_id }, ACTOR);
        const { provider, identityUserId } = keyOf(secondary.user_id);
        const profileData = {
          email: secondary.email,
          email_verified: true,
          name: 'Secondary Person',
          given_name: 'Sec',
          family_name: 'Ondary',
          nickname: secondary.nickname,
          picture: 'https://example.com/p.png',
          phone_number: '+14258831929',
          phone_verified: true,
        };
        assert.deepEqual(identities, [primary.identities[0], { provider, user_id: identityUserId, connection: 'google-oauth2', isSocial: true, profileData }]);

        const after = await directory.getUser(primary.user_id);
        assert.deepEqual(after.identities, identities);
        assert.deepEqual(stable(after), stable(primary), 'the primary keeps its user_id, root attributes and metadata');
        await rejectsWith(directory.getUser(secondary.user_id), 'inexistent_user');
        assert.deepEqual(await directory.findByEmail(secondary.email!), [], 'the secondary leaves the directory');
        assert.equal((await directory.findByIdentity(provider, identityUserId))?.user_id, primary.user_id);
        const expected = new Map(owners);
        expected.set(secondary.user_id, primary.user_id);
        assert.deepEqual(await identityOwners(database), expected, 'only the secondary identity changed owner');

        const snapshots = await database.db
          .selectFrom('link_snapshots')
          .selectAll()
          .where('provider', '=', provider)
          .where('identity_user_id', '=', identityUserId)
          .execute();
        assert.equal(snapshots.length, 1);
        assert.equal(snapshots[0]!.primary_id, primary.user_id);
        assert.deepEqual(JSON.parse(snapshots[0]!.snapshot), secondary, 'the snapshot is the secondary as it was');
        await assertDirectoryInvariant(database);
      });

      it('links by provider and user_id, with or without a matching connection_id', async () => {
        const primary = await passwordless('by-id-p');
        const a = await passwordless('by-id-a');
        const b = await directory.createFederatedUser({ connection: 'corp-sso', sub: `by-id-${Date.now()}` }, ACTOR);
        await directory.link(primary.user_id, { provider: 'email', identityUserId: keyOf(a.user_id).identityUserId }, ACTOR);
        const corpId = directory.connections.byName('corp-sso')!.id;
        const identities = await directory.link(
          primary.user_id,
          { provider: 'oidc', identityUserId: keyOf(b.user_id).identityUserId, connectionId: corpId },
          ACTOR,
        );
        assert.deepEqual(
          identities.map((i) => `${i.provider}|${i.user_id}`),
          [primary.user_id, a.user_id, b.user_id],
          'main first, then in link order',
        );
      });

      it('lists linked identities in link order, even when the links share a millisecond', async (t) => {
        t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2030-01-01T00:00:00.000Z') });
        const primary = await passwordless('order-p');
        // Linked in the reverse of their alphabetical order, all at the same instant.
        const secondaries = [
          await directory.createFederatedUser({ connection: 'google-oauth2', sub: `order-z-${process.pid}` }, ACTOR),
          await directory.createFederatedUser({ connection: 'google-oauth2', sub: `order-m-${process.pid}` }, ACTOR),
          await directory.createFederatedUser({ connection: 'corp-sso', sub: `order-${process.pid}` }, ACTOR),
          await passwordless('order-e'),
        ];
        for (const s of secondaries) await directory.link(primary.user_id, { userId: s.user_id }, ACTOR);
        const expected = [primary.user_id, ...secondaries.map((s) => s.user_id)];
        const keys = (p: UserProfile) => p.identities.map((i) => `${i.provider}|${i.user_id}`);
        assert.deepEqual(keys(await directory.getUser(primary.user_id)), expected);
        // Unlinking one in the middle keeps the others in order; relinking it puts it last.
        const middle = keyOf(secondaries[1]!.user_id);
        await directory.unlink(primary.user_id, middle.provider, middle.identityUserId, {}, ACTOR);
        await directory.link(primary.user_id, { userId: secondaries[1]!.user_id }, ACTOR);
        assert.deepEqual(keys(await directory.getUser(primary.user_id)), [expected[0], expected[1], expected[3], expected[4], expected[2]]);
      });

      it('refuses a self-link (link_self), by user id and by the main identity', async () => {
        const primary = await passwordless('self');
        const before = await identityOwners(database);
        await rejectsWith(directory.link(primary.user_id, { userId: primary.user_id }, ACTOR), 'link_self');
        const { provider, identityUserId } = keyOf(primary.user_id);
        await rejectsWith(directory.link(primary.user_id, { provider, identityUserId }, ACTOR), 'link_self');
        assert.deepEqual(await identityOwners(database), before);
        assert.deepEqual(await directory.getUser(primary.user_id), primary);
      });

      it('refuses an unknown or malformed secondary (link_secondary_not_found)', async () => {
        const primary = await passwordless('nf');
        await rejectsWith(directory.link(primary.user_id, { userId: 'email|000000000000000000000000' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(primary.user_id, { userId: 'no-pipe' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(primary.user_id, { userId: 'email|' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(primary.user_id, { provider: 'email', identityUserId: 'missing' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(
          directory.link(primary.user_id, { provider: 'auth0', identityUserId: keyOf(primary.user_id).identityUserId }, ACTOR),
          'link_secondary_not_found',
        );
        assert.deepEqual(await directory.getUser(primary.user_id), primary);
      });

      it('refuses a secondary that has linked identities of its own (link_secondary_has_identities)', async () => {
        const primary = await passwordless('hi-p');
        const secondary = await passwordless('hi-s');
        const tertiary = await passwordless('hi-t');
        await directory.link(secondary.user_id, { userId: tertiary.user_id }, ACTOR);
        const before = await identityOwners(database);
        const secondaryBefore = await directory.getUser(secondary.user_id);
        await rejectsWith(directory.link(primary.user_id, { userId: secondary.user_id }, ACTOR), 'link_secondary_has_identities');
        const { provider, identityUserId } = keyOf(secondary.user_id);
        await rejectsWith(directory.link(primary.user_id, { provider, identityUserId }, ACTOR), 'link_secondary_has_identities');
        assert.deepEqual(await identityOwners(database), before);
        assert.deepEqual(await directory.getUser(secondary.user_id), secondaryBefore);
        assert.deepEqual(await directory.getUser(primary.user_id), primary);
      });

      it('refuses an identity already linked to a third user (link_identity_in_use) and leaves that user unchanged', async () => {
        const primary = await passwordless('iu-p');
        const third = await passwordless('iu-third');
        const victim = await directory.createFederatedUser({ connection: 'google-oauth2', sub: `iu-${Date.now()}` }, ACTOR);
        await directory.link(third.user_id, { userId: victim.user_id }, ACTOR);
        const thirdBefore = await directory.getUser(third.user_id);
        const before = await identityOwners(database);
        const { provider, identityUserId } = keyOf(victim.user_id);

        await rejectsWith(directory.link(primary.user_id, { provider, identityUserId }, ACTOR), 'link_identity_in_use');
        await rejectsWith(directory.link(primary.user_id, { userId: victim.user_id }, ACTOR), 'link_identity_in_use');
        // Already linked to this very primary: also "already exists".
        await rejectsWith(directory.link(third.user_id, { provider, identityUserId }, ACTOR), 'link_identity_in_use');
        assert.deepEqual(await directory.getUser(third.user_id), thirdBefore);
        assert.deepEqual(await directory.getUser(primary.user_id), primary);
        assert.deepEqual(await identityOwners(database), before);
      });

      it('refuses an unknown primary (inexistent_user) and a connection_id that does not match the secondary', async () => {
        const secondary = await passwordless('ip-s');
        await rejectsWith(directory.link('email|000000000000000000000000', { userId: secondary.user_id }, ACTOR), 'inexistent_user');
        assert.deepEqual(await directory.getUser(secondary.user_id), secondary);

        const primary = await passwordless('cid-p');
        const { provider, identityUserId } = keyOf(secondary.user_id);
        const wrong = directory.connections.byName(DB_CONNECTION)!.id;
        await rejectsWith(directory.link(primary.user_id, { provider, identityUserId, connectionId: wrong }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(primary.user_id, { provider, identityUserId, connectionId: 'con_doesnotexist' }, ACTOR), 'link_secondary_not_found');
        assert.deepEqual(await directory.getUser(secondary.user_id), secondary);
        assert.deepEqual(await directory.getUser(primary.user_id), primary);
        const snapshots = await database.db.selectFrom('link_snapshots').select('id').where('primary_id', '=', primary.user_id).execute();
        assert.equal(snapshots.length, 0, 'a refused link leaves no snapshot');
      });

      it('judges the secondary before the primary: an unknown primary hears what is wrong with the secondary first', async () => {
        const unknown = 'email|000000000000000000000000';
        await rejectsWith(directory.link(unknown, { userId: 'email|ffffffffffffffffffffffff' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(unknown, { provider: 'email', identityUserId: 'missing' }, ACTOR), 'link_secondary_not_found');
        await rejectsWith(directory.link(unknown, { userId: unknown }, ACTOR), 'link_self');
        const third = await passwordless('order-third');
        const taken = await passwordless('order-taken');
        await directory.link(third.user_id, { userId: taken.user_id }, ACTOR);
        await rejectsWith(directory.link(unknown, { userId: taken.user_id }, ACTOR), 'link_identity_in_use');
        await rejectsWith(directory.link(unknown, { ...keyOf(taken.user_id) }, ACTOR), 'link_identity_in_use');
        // The secondary's own linked identities are judged after the primary is found.
        await rejectsWith(directory.link(unknown, { userId: third.user_id }, ACTOR), 'inexistent_user');
        const lone = await passwordless('order-lone');
        await rejectsWith(directory.link(unknown, { userId: lone.user_id }, ACTOR), 'inexistent_user');
        assert.deepEqual(await directory.getUser(lone.user_id), lone);
      });

      it('handles identity user ids that contain | (split on the first | only)', async () => {
        const primary = await passwordless('pipe-p');
        const corp = await directory.createFederatedUser({ connection: 'corp-sso', sub: 'tenant|42|x', email: uniqueEmail('pipe-c') }, ACTOR);
        const google = await directory.createFederatedUser({ connection: 'google-oauth2', sub: 'g|7', email: uniqueEmail('pipe-g') }, ACTOR);
        assert.equal(corp.user_id, 'oidc|corp-sso|tenant|42|x');
        assert.equal(google.user_id, 'google-oauth2|g|7');

        await directory.link(primary.user_id, { userId: corp.user_id }, ACTOR);
        const identities = await directory.link(primary.user_id, { provider: 'google-oauth2', identityUserId: 'g|7' }, ACTOR);
        assert.deepEqual(
          identities.slice(1).map((i) => [i.provider, i.user_id]),
          [
            ['oidc', 'corp-sso|tenant|42|x'],
            ['google-oauth2', 'g|7'],
          ],
        );
        assert.equal((await directory.findByIdentity('oidc', 'corp-sso|tenant|42|x'))?.user_id, primary.user_id);
        await assertDirectoryInvariant(database);

        await directory.unlink(primary.user_id, 'oidc', 'corp-sso|tenant|42|x', {}, ACTOR);
        await directory.unlink(primary.user_id, 'google-oauth2', 'g|7', {}, ACTOR);
        assert.equal((await directory.getUser('oidc|corp-sso|tenant|42|x')).identities[0]!.user_id, 'corp-sso|tenant|42|x');
        assert.equal((await directory.getUser('google-oauth2|g|7')).identities[0]!.user_id, 'g|7');
      });
    });

    describe('unlink', () => {
      const linkedPair = async (label: string) => {
        const primary = await passwordless(`${label}-p`, { user_metadata: { keep: 'primary' }, app_metadata: { plan: 'gold' } });
        const secondary = await passwordless(`${label}-s`, {
          name: 'Second',
          given_name: 'Sec',
          email_verified: true,
          user_metadata: { mine: 1 },
          app_metadata: { roles: ['r'] },
        });
        await directory.link(primary.user_id, { userId: secondary.user_id }, ACTOR);
        return { primary, secondary, ...keyOf(secondary.user_id) };
      };

      it('recreates provider|user_id from profileData with no metadata, and leaves the primary as it was', async () => {
        const { primary, secondary, provider, identityUserId } = await linkedPair('unl');
        const remaining = await directory.unlink(primary.user_id, provider, identityUserId, {}, ACTOR);
        assert.deepEqual(remaining, primary.identities);

        const restored = await directory.getUser(secondary.user_id);
        assert.equal(restored.user_id, `${provider}|${identityUserId}`);
        assert.deepEqual(restored.identities, secondary.identities, 'its main identity again, without profileData');
        for (const key of ['email', 'email_verified', 'name', 'given_name', 'nickname'] as const) {
          assert.deepEqual(restored[key], secondary[key], key);
        }
        assert.deepEqual(restored.user_metadata, {});
        assert.deepEqual(restored.app_metadata, {});
        assert.equal(restored.blocked, false);
        assert.deepEqual(stable(await directory.getUser(primary.user_id)), stable(primary));
        assert.deepEqual(
          (await directory.findByEmail(secondary.email!)).map((u) => u.user_id),
          [secondary.user_id],
        );
        await assertDirectoryInvariant(database);
        // And it can be linked again, into another primary.
        const other = await passwordless('unl-other');
        await directory.link(other.user_id, { userId: secondary.user_id }, ACTOR);
        assert.equal((await directory.findByIdentity(provider, identityUserId))?.user_id, other.user_id);
      });

      it('restores the metadata from the link snapshot when restoreMetadata is true', async () => {
        const { primary, secondary, provider, identityUserId } = await linkedPair('rst');
        await directory.unlink(primary.user_id, provider, identityUserId, { restoreMetadata: true }, ACTOR);
        const restored = await directory.getUser(secondary.user_id);
        assert.deepEqual(restored.user_metadata, { mine: 1 });
        assert.deepEqual(restored.app_metadata, { roles: ['r'] });
        assert.equal(restored.created_at, secondary.created_at);
        assert.deepEqual((await directory.getUser(primary.user_id)).user_metadata, { keep: 'primary' });
      });

      it("sets the primary's updated_at to the unlink's time, the standalone user's creation", async () => {
        const { primary, secondary, provider, identityUserId } = await linkedPair('touch');
        await directory.unlink(primary.user_id, provider, identityUserId, {}, ACTOR);
        const [after, detached] = [await directory.getUser(primary.user_id), await directory.getUser(secondary.user_id)];
        assert.equal(after.updated_at, detached.updated_at);
        assert.ok(after.updated_at > primary.updated_at);
      });

      it('refuses to remove the main identity (unlink_main_identity)', async () => {
        const { primary } = await linkedPair('main');
        const before = await directory.getUser(primary.user_id);
        const { provider, identityUserId } = keyOf(primary.user_id);
        await rejectsWith(directory.unlink(primary.user_id, provider, identityUserId, {}, ACTOR), 'unlink_main_identity');
        assert.deepEqual(await directory.getUser(primary.user_id), before);
      });

      it('refuses an identity the primary does not own (inexistent_identity) and an unknown primary (inexistent_user)', async () => {
        const { primary, secondary, provider, identityUserId } = await linkedPair('ie');
        const stranger = await passwordless('ie-stranger');
        const strangerKey = keyOf(stranger.user_id);
        const before = await identityOwners(database);
        await rejectsWith(directory.unlink(primary.user_id, strangerKey.provider, strangerKey.identityUserId, {}, ACTOR), 'inexistent_identity');
        await rejectsWith(directory.unlink(primary.user_id, 'email', 'missing', {}, ACTOR), 'inexistent_identity');
        await rejectsWith(directory.unlink(primary.user_id, 'auth0', identityUserId, {}, ACTOR), 'inexistent_identity');
        await rejectsWith(directory.unlink(stranger.user_id, provider, identityUserId, {}, ACTOR), 'inexistent_identity');
        await rejectsWith(directory.unlink('email|000000000000000000000000', provider, identityUserId, {}, ACTOR), 'inexistent_user');
        assert.deepEqual(await identityOwners(database), before);
        await rejectsWith(directory.getUser(secondary.user_id), 'inexistent_user');
        // Unlinking twice: the second finds nothing to remove.
        await directory.unlink(primary.user_id, provider, identityUserId, {}, ACTOR);
        await rejectsWith(directory.unlink(primary.user_id, provider, identityUserId, {}, ACTOR), 'inexistent_identity');
      });
    });

    describe('audit events', () => {
      it('records create, update, delete, link and unlink with the actor and the ids involved', async () => {
        const actor = { id: 'client:cli_audit', clientId: 'cli_audit' };
        const primary = await directory.createUser({ connection: 'email', email: uniqueEmail('audit-p') }, actor);
        const secondary = await directory.createUser({ connection: 'email', email: uniqueEmail('audit-s') }, SYSTEM_ACTOR);
        await directory.updateUser(primary.user_id, { name: 'Audited', user_metadata: { a: 1 } }, actor);
        await directory.link(primary.user_id, { userId: secondary.user_id }, { id: `user:${primary.user_id}`, clientId: 'app' });
        const { provider, identityUserId } = keyOf(secondary.user_id);
        await directory.unlink(primary.user_id, provider, identityUserId, { restoreMetadata: true }, actor);
        await directory.deleteUser(secondary.user_id, actor);

        const { events } = await directory.logs({ page: 0, perPage: 100 });
        const mine = events.filter((e) => [primary.user_id, secondary.user_id].includes(e.user_id ?? '')).reverse();
        assert.deepEqual(
          mine.map((e) => [e.type, e.user_id, e.actor, e.client_id]),
          [
            ['user.created', primary.user_id, 'client:cli_audit', 'cli_audit'],
            ['user.created', secondary.user_id, 'tenant', null],
            ['user.updated', primary.user_id, 'client:cli_audit', 'cli_audit'],
            ['identity.linked', primary.user_id, `user:${primary.user_id}`, 'app'],
            ['identity.unlinked', primary.user_id, 'client:cli_audit', 'cli_audit'],
            ['user.deleted', secondary.user_id, 'client:cli_audit', 'cli_audit'],
          ],
        );
        const [created, , updated, linked, unlinked, deleted] = mine;
        assert.deepEqual(created!.details, { user_id: primary.user_id, connection: 'email' });
        assert.deepEqual(updated!.details, { user_id: primary.user_id, changed: ['name', 'user_metadata:a'] });
        assert.deepEqual(linked!.details, {
          primary_id: primary.user_id,
          secondary_id: secondary.user_id,
          provider,
          identity_user_id: identityUserId,
          connection: 'email',
        });
        assert.deepEqual(unlinked!.details, {
          primary_id: primary.user_id,
          secondary_id: secondary.user_id,
          provider,
          identity_user_id: identityUserId,
          connection: 'email',
          restored_metadata: true,
        });
        assert.deepEqual(deleted!.details, { user_id: secondary.user_id, identities: [secondary.user_id] });
        assert.ok(mine.every((e) => !Number.isNaN(Date.parse(e.date)) && e.log_id.length > 0));

        const perUser = await directory.logs({ userId: primary.user_id, page: 0, perPage: 100 });
        assert.equal(perUser.total, 4);
        await rejectsWith(directory.logs({ userId: secondary.user_id, page: 0, perPage: 10 }), 'inexistent_user');
        // Refused changes leave no trace.
        await rejectsWith(directory.link(primary.user_id, { userId: primary.user_id }, actor), 'link_self');
        assert.equal((await directory.logs({ userId: primary.user_id, page: 0, perPage: 100 })).total, 4);
      });
    });

    describe('account safety across link and unlink', () => {
      let sub = 0;
      const google = (email: string) =>
        directory.createFederatedUser({ connection: 'google-oauth2', sub: `safety-${process.pid}-${++sub}`, email, email_verified: true }, ACTOR);

      it('keeps one identity per email in a connection even when that identity is linked into another user', async () => {
        const email = uniqueEmail('linked-email');
        const secondary = await passwordless('x', { email });
        const primary = await google(email);
        await directory.link(primary.user_id, { userId: secondary.user_id }, ACTOR);
        await rejectsWith(directory.createUser({ connection: 'email', email: email.toUpperCase(), email_verified: true }, ACTOR), 'user_exists');
        const other = await passwordless('other');
        await rejectsWith(directory.updateUser(other.user_id, { email }, ACTOR), 'user_exists');
        await directory.unlink(primary.user_id, 'email', keyOf(secondary.user_id).identityUserId, {}, ACTOR);
        const sameEmail = (await directory.findByEmail(email)).filter((u) => u.identities[0]!.connection === 'email');
        assert.equal(sameEmail.length, 1, 'still exactly one email-connection account with that address');
      });

      it('never unblocks an account by linking and unlinking it', async () => {
        const blockedSecondary = await passwordless('blocked', { blocked: true });
        const primary = await google(uniqueEmail('p'));
        await directory.link(primary.user_id, { userId: blockedSecondary.user_id }, ACTOR);
        await directory.unlink(primary.user_id, 'email', keyOf(blockedSecondary.user_id).identityUserId, {}, ACTOR);
        assert.equal((await directory.getUser(blockedSecondary.user_id)).blocked, true, 'blocked when linked → blocked after unlink');

        const secondary = await passwordless('free');
        const blockedPrimary = await google(uniqueEmail('bp'));
        await directory.link(blockedPrimary.user_id, { userId: secondary.user_id }, ACTOR);
        await directory.updateUser(blockedPrimary.user_id, { blocked: true }, ACTOR);
        await directory.unlink(blockedPrimary.user_id, 'email', keyOf(secondary.user_id).identityUserId, {}, ACTOR);
        assert.equal((await directory.getUser(secondary.user_id)).blocked, true, 'unlinked from a blocked primary → blocked');
      });

      it('drops link snapshots once unlinked and when the primary is deleted', async () => {
        const snapshots = (primaryId: string) => database.db.selectFrom('link_snapshots').select('id').where('primary_id', '=', primaryId).execute();
        const primary = await google(uniqueEmail('snap'));
        const a = await passwordless('snap-a', { user_metadata: { private: 'a' } });
        const b = await passwordless('snap-b');
        await directory.link(primary.user_id, { userId: a.user_id }, ACTOR);
        await directory.link(primary.user_id, { userId: b.user_id }, ACTOR);
        assert.equal((await snapshots(primary.user_id)).length, 2);
        await directory.unlink(primary.user_id, 'email', keyOf(a.user_id).identityUserId, { restoreMetadata: true }, ACTOR);
        assert.deepEqual((await directory.getUser(a.user_id)).user_metadata, { private: 'a' });
        assert.equal((await snapshots(primary.user_id)).length, 1);
        await directory.deleteUser(primary.user_id, ACTOR);
        assert.equal((await snapshots(primary.user_id)).length, 0);
      });

      it('treats a change of case in the email as the same, still verified, address', async () => {
        const user = await passwordless('case');
        const updated = await directory.updateUser(user.user_id, { email: user.email!.toUpperCase() }, ACTOR);
        assert.equal(updated.email, user.email!.toUpperCase());
        assert.equal(updated.email_verified, true);
        const moved = await directory.updateUser(user.user_id, { email: uniqueEmail('case-new') }, ACTOR);
        assert.equal(moved.email_verified, false, 'a different address is unproven');
      });
    });
  });
}
