import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { AccordError } from '../../src/platform/errors.ts';
import type { TenantErrorCode } from '../../src/tenant/tenant-errors.ts';
import type { Directory, SecondaryRef } from '../../src/tenant/directory/directory.ts';
import { testDatabases } from '../helpers/databases.ts';
import { ACTOR, identityOwners, openDirectory } from '../helpers/directory.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';
import { listen, startTestTenant, type TestTenant } from '../helpers/tenant.ts';

/** `provider|rest` split on the first `|`, as Auth0 does. */
function keyOf(userId: string): { provider: string; identityUserId: string } {
  const i = userId.indexOf('|');
  return { provider: userId.slice(0, i), identityUserId: userId.slice(i + 1) };
}

/** Refusals a racing request may legitimately get; anything else (or a non-AccordError) is a bug. */
const RACE_REFUSALS = new Set<TenantErrorCode>([
  'link_self',
  'link_secondary_not_found',
  'link_secondary_has_identities',
  'link_identity_in_use',
  'inexistent_user',
  'inexistent_identity',
  'unlink_main_identity',
  'conflict',
]);

function assertRaceRefusal(result: PromiseSettledResult<unknown>, what: string): void {
  if (result.status === 'fulfilled') return;
  const err: unknown = result.reason;
  assert.ok(err instanceof AccordError, `${what}: unexpected ${err instanceof Error ? err.stack : String(err)}`);
  assert.ok(RACE_REFUSALS.has(err.code), `${what}: unexpected refusal ${err.code}: ${err.message}`);
}

/** A small deterministic PRNG, so a failing storm can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

for (const db of testDatabases()) {
  describe(`concurrent link and unlink over HTTP [${db.label}]`, () => {
    let t: TestTenant;
    let server: Awaited<ReturnType<typeof listen>>;
    let database: Database;
    let cleanup: () => Promise<void>;
    let token: string;

    before(async () => {
      const opened = await db.open();
      database = opened.database;
      cleanup = opened.cleanup;
      t = await startTestTenant(database);
      server = await listen(t.tenant);
      token = await t.token();
    });
    after(async () => {
      await server.close();
      await t.close();
      await cleanup();
    });

    it('50 conflicting requests at once, several rounds: never a 500, one winner per secondary, nothing lost or duplicated', async () => {
      const directory = t.tenant.directory;
      const primaries: string[] = [];
      for (let i = 0; i < 5; i++) {
        primaries.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`http-p${i}`), email_verified: true }, ACTOR)).user_id);
      }
      const secondaries: string[] = [];
      for (let i = 0; i < 7; i++) {
        secondaries.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`http-s${i}`), email_verified: true }, ACTOR)).user_id);
      }
      for (const sub of ['1150154013433', 'pipe|in|sub', 'pipe|2']) {
        secondaries.push((await directory.createFederatedUser({ connection: 'google-oauth2', sub, email: uniqueEmail('http-g') }, ACTOR)).user_id);
      }
      // Half the secondaries start linked, so the first round already mixes links and unlinks.
      for (let i = 0; i < 5; i++) await directory.link(primaries[i]!, { userId: secondaries[i]! }, ACTOR);
      const allKeys = [...(await identityOwners(database)).keys()].sort();
      assert.equal(allKeys.length, 15);

      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const userUrl = (id: string) => `${server.url}/api/v2/users/${encodeURIComponent(id)}`;
      const tally = { 200: 0, 201: 0, 404: 0, 409: 0 } as Record<number, number>;

      for (let round = 0; round < 4; round++) {
        const owners = await identityOwners(database);
        // Each secondary gets one unlink (from its current owner, or from an arbitrary primary
        // when it stands alone) and four links into four different primaries, all at once.
        const requests = Array.from({ length: 50 }, (_, k) => {
          const secondary = secondaries[k % 10]!;
          const slot = Math.floor(k / 10);
          const { provider, identityUserId } = keyOf(secondary);
          if (slot === round % 5) {
            const owner = owners.get(secondary)!;
            const from = owner === secondary ? primaries[slot]! : owner;
            return {
              kind: 'unlink' as const,
              secondary,
              primary: from,
              run: () =>
                fetch(`${userUrl(from)}/identities/${encodeURIComponent(provider)}/${encodeURIComponent(identityUserId)}`, { method: 'DELETE', headers }),
            };
          }
          const primary = primaries[slot]!;
          return {
            kind: 'link' as const,
            secondary,
            primary,
            run: () => fetch(`${userUrl(primary)}/identities`, { method: 'POST', headers, body: JSON.stringify({ provider, user_id: identityUserId }) }),
          };
        });
        const responses = await Promise.all(
          requests.map(async (r) => {
            const res = await r.run();
            return { ...r, status: res.status, body: (await res.json()) as unknown };
          }),
        );

        for (const r of responses) {
          const what = `round ${round}: ${r.kind} ${r.secondary} ${r.kind === 'link' ? 'into' : 'from'} ${r.primary} → ${r.status} ${JSON.stringify(r.body)}`;
          assert.ok(r.status < 500, what);
          tally[r.status] = (tally[r.status] ?? 0) + 1;
          if (r.status >= 400) {
            assert.ok([400, 404, 409].includes(r.status), what);
            const body = r.body as { statusCode: number; error: string; message: string; errorCode: string };
            assert.equal(body.statusCode, r.status, what);
            assert.equal(typeof body.message, 'string', what);
            assert.ok(RACE_REFUSALS.has(body.errorCode as TenantErrorCode), what);
            continue;
          }
          assert.equal(r.status, r.kind === 'link' ? 201 : 200, what);
          const keys = (r.body as { provider: string; user_id: string }[]).map((i) => `${i.provider}|${i.user_id}`);
          assert.equal(keys[0], r.primary, `${what}: the main identity comes first`);
        }

        for (const secondary of secondaries) {
          const mine = responses.filter((r) => r.secondary === secondary);
          const linked = mine.filter((r) => r.kind === 'link' && r.status === 201);
          const unlink = mine.find((r) => r.kind === 'unlink')!;
          const standalone = owners.get(secondary) === secondary;
          const what = `round ${round}, ${secondary}: ${mine.map((r) => `${r.kind}→${r.status}`).join(' ')}`;
          if (standalone) {
            assert.equal(linked.length, 1, `${what}: exactly one of the links into a free secondary wins`);
            assert.equal(unlink.status, 404, what);
          } else {
            assert.equal(unlink.status, 200, `${what}: nothing else can take a linked identity from its owner`);
            assert.ok(linked.length <= 1, `${what}: at most one relink`);
          }
          const expectedOwner = linked.length === 1 ? linked[0]!.primary : secondary;
          assert.equal((await directory.findByIdentity(keyOf(secondary).provider, keyOf(secondary).identityUserId))?.user_id, expectedOwner, what);
        }

        const counts = await assertDirectoryInvariant(database);
        const after = await identityOwners(database);
        assert.deepEqual([...after.keys()].sort(), allKeys, `round ${round}: no identity lost or duplicated`);
        assert.equal(counts.identities, 15);
        for (const primary of primaries) assert.equal(after.get(primary), primary, 'primaries stay users');
        // Through the API too: every identity appears in exactly one user's identities.
        const res = await fetch(`${server.url}/api/v2/users?per_page=100&include_totals=true`, { headers });
        const page = (await res.json()) as { total: number; users: { user_id: string; identities: { provider: string; user_id: string }[] }[] };
        const listed = page.users.flatMap((u) => u.identities.map((i) => `${i.provider}|${i.user_id}`)).sort();
        assert.deepEqual(listed, allKeys);
        const linkedCount = page.users.reduce((n, u) => n + u.identities.length - 1, 0);
        assert.equal(page.total + linkedCount, 15, 'users + linked identities is conserved');
      }
      assert.ok(tally[201]! >= 4 && tally[200]! >= 4, `the rounds really linked and unlinked: ${JSON.stringify(tally)}`);
    });
  });

  describe(`concurrent directory writes [${db.label}]`, () => {
    let database: Database;
    let directory: Directory;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ database, directory, cleanup } = await openDirectory(db));
    });
    after(async () => {
      await cleanup();
    });

    it('50 concurrent links of one secondary into 50 primaries: exactly one succeeds', async () => {
      const primaries: string[] = [];
      for (let i = 0; i < 50; i++) {
        primaries.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`many-p${i}`) }, ACTOR)).user_id);
      }
      for (let round = 0; round < 4; round++) {
        const secondary =
          round % 2 === 0
            ? (await directory.createUser({ connection: 'email', email: uniqueEmail(`many-s${round}`) }, ACTOR)).user_id
            : (await directory.createFederatedUser({ connection: 'google-oauth2', sub: `many|${round}` }, ACTOR)).user_id;
        const ref = round < 2 ? { userId: secondary } : { provider: keyOf(secondary).provider, identityUserId: keyOf(secondary).identityUserId };
        const results = await Promise.allSettled(primaries.map((p) => directory.link(p, ref, ACTOR)));
        for (const [i, r] of results.entries()) assertRaceRefusal(r, `link into ${primaries[i]}`);
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [primaries[i]!] : []));
        assert.equal(
          winners.length,
          1,
          `round ${round}: ${winners.length} winners; refusals: ${results.map((r) => (r.status === 'rejected' ? (r.reason as AccordError).code : 'ok')).join(',')}`,
        );
        assert.equal((await directory.findByIdentity(keyOf(secondary).provider, keyOf(secondary).identityUserId))?.user_id, winners[0]);
        const snapshots = await database.db
          .selectFrom('link_snapshots')
          .select('primary_id')
          .where('provider', '=', keyOf(secondary).provider)
          .where('identity_user_id', '=', keyOf(secondary).identityUserId)
          .execute();
        assert.deepEqual(
          snapshots.map((s) => s.primary_id),
          winners,
          'one snapshot, written by the winner',
        );
        await assertDirectoryInvariant(database);
      }
    });

    it('concurrent creates of one email in one connection: exactly one user', async () => {
      for (let round = 0; round < 3; round++) {
        const email = uniqueEmail(`race-create${round}`);
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => directory.createUser({ connection: 'email', email: i % 2 === 0 ? email : email.toUpperCase() }, ACTOR)),
        );
        for (const r of results) {
          if (r.status === 'rejected') {
            assert.ok(r.reason instanceof AccordError, String(r.reason));
            assert.ok(['user_exists', 'conflict'].includes(r.reason.code), r.reason.code);
          }
        }
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
        assert.equal((await directory.findByEmail(email)).length, 1, `round ${round}: one account per email and connection`);
        await assertDirectoryInvariant(database);
      }
    });

    it('concurrent email changes (and a create) to one address in one connection: exactly one wins', async () => {
      const users: string[] = [];
      for (let i = 0; i < 10; i++) users.push((await directory.createUser({ connection: 'email', email: uniqueEmail(`race-move${i}`) }, ACTOR)).user_id);
      for (let round = 0; round < 3; round++) {
        const email = uniqueEmail(`race-target${round}`);
        const results = await Promise.allSettled([
          ...users.map((id) => directory.updateUser(id, { email }, ACTOR)),
          directory.createUser({ connection: 'email', email }, ACTOR),
        ]);
        for (const r of results) {
          if (r.status === 'rejected') {
            assert.ok(r.reason instanceof AccordError, String(r.reason));
            assert.ok(['user_exists', 'conflict'].includes(r.reason.code), r.reason.code);
          }
        }
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}`);
        assert.equal((await directory.findByEmail(email)).length, 1, `round ${round}`);
        await assertDirectoryInvariant(database);
      }
    });

    it('reads racing a link never show a user without its main identity', async () => {
      const check = (profile: { user_id: string; identities: { provider: string; user_id: string }[] }, what: string) => {
        assert.ok(profile.identities.length > 0, `${what}: ${profile.user_id} has no identities`);
        assert.equal(`${profile.identities[0]!.provider}|${profile.identities[0]!.user_id}`, profile.user_id, what);
      };
      for (let round = 0; round < 8; round++) {
        const primary = (await directory.createUser({ connection: 'email', email: uniqueEmail(`read-p${round}`) }, ACTOR)).user_id;
        const email = uniqueEmail(`read-s${round}`);
        const secondary = (await directory.createUser({ connection: 'email', email }, ACTOR)).user_id;
        const [, ...reads] = await Promise.all([
          directory.link(primary, { userId: secondary }, ACTOR),
          ...Array.from({ length: 10 }, () => directory.findUser(secondary)),
          ...Array.from({ length: 3 }, () => directory.listUsers({ q: `user_id:"${secondary}"`, page: 0, perPage: 10 })),
          ...Array.from({ length: 3 }, () => directory.findByEmail(email)),
        ]);
        for (const read of reads) {
          const profiles = read === undefined ? [] : Array.isArray(read) ? read : 'users' in read ? read.users : [read];
          for (const profile of profiles) check(profile, `round ${round}`);
        }
        check(await directory.getUser(primary), `round ${round}, after`);
      }
    });

    it('concurrent metadata patches of one user: no update is lost', async () => {
      const user = await directory.createUser({ connection: 'email', email: uniqueEmail('patchy'), user_metadata: { base: true } }, ACTOR);
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => directory.updateUser(user.user_id, { user_metadata: { [`k${i}`]: i }, app_metadata: { [`a${i}`]: i } }, ACTOR)),
      );
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      const after = await directory.getUser(user.user_id);
      assert.equal(Object.keys(after.user_metadata).length, 31);
      assert.equal(Object.keys(after.app_metadata).length, 30);
      await assertDirectoryInvariant(database);
    });

    it('a seeded storm of links, unlinks, updates and deletes among users that are both primaries and secondaries stays consistent', async () => {
      const users: string[] = [];
      for (let i = 0; i < 14; i++) {
        users.push(
          i % 4 === 3
            ? (await directory.createFederatedUser({ connection: 'google-oauth2', sub: `storm|${i}` }, ACTOR)).user_id
            : (await directory.createUser({ connection: 'email', email: uniqueEmail(`storm${i}`) }, ACTOR)).user_id,
        );
      }
      const random = prng(20_240_611);
      const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
      for (let round = 0; round < 6; round++) {
        const before = await identityOwners(database);
        const current = new Set(before.values());
        const deletable = round % 2 === 1 ? [pick([...current])] : [];
        const ops = Array.from({ length: 50 }, (_, k): [string, () => Promise<unknown>] => {
          const roll = random();
          const a = pick(users);
          const b = pick(users);
          if (k < deletable.length) return [`delete ${deletable[k]}`, () => directory.deleteUser(deletable[k]!, ACTOR)];
          if (roll < 0.5) {
            const secondary: SecondaryRef = random() < 0.5 ? { userId: b } : keyOf(b);
            return [`link ${b} into ${a}`, () => directory.link(a, secondary, ACTOR)];
          }
          if (roll < 0.85) {
            const owner = before.get(b) ?? a;
            const { provider, identityUserId } = keyOf(b);
            return [`unlink ${b} from ${owner}`, () => directory.unlink(owner, provider, identityUserId, { restoreMetadata: random() < 0.5 }, ACTOR)];
          }
          return [`update ${a}`, () => directory.updateUser(a, { user_metadata: { [`r${round}`]: k }, name: `storm ${k}` }, ACTOR)];
        });
        const results = await Promise.allSettled(ops.map(([, run]) => run()));
        for (const [i, r] of results.entries()) assertRaceRefusal(r, `round ${round}: ${ops[i]?.[0]}`);

        await assertDirectoryInvariant(database);
        const after = await identityOwners(database);
        // Without a delete no identity disappears, and none ever appears from nowhere.
        const deletedKeys = [...before.keys()].filter((key) => !after.has(key));
        if (deletable.length === 0) assert.deepEqual(deletedKeys, [], `round ${round}: identities lost without a delete`);
        for (const key of after.keys()) assert.ok(before.has(key), `round ${round}: identity ${key} appeared from nowhere`);
        assert.ok(
          results.some((r) => r.status === 'fulfilled'),
          `round ${round}: something succeeded`,
        );
      }
    });
  });
}
