import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Directory } from '../../src/tenant/directory/directory.ts';
import { LoginPipeline } from '../../src/tenant/login/login-pipeline.ts';
import { testDatabases } from '../helpers/databases.ts';
import { ACTOR, openDirectory, rejectsWith } from '../helpers/directory.ts';
import { uniqueEmail } from '../helpers/unique-email.ts';

/** `provider|rest` split on the first `|`, as Auth0 does. */
function keyOf(userId: string): [string, string] {
  const i = userId.indexOf('|');
  return [userId.slice(0, i), userId.slice(i + 1)];
}

for (const db of testDatabases({ sqlite: 'file' })) {
  describe(`LoginPipeline: counting sign-ins [${db.label}]`, () => {
    let directory: Directory;
    let pipeline: LoginPipeline;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ directory, cleanup } = await openDirectory(db));
      pipeline = new LoginPipeline(directory);
    });
    after(async () => {
      await cleanup();
    });

    const newUser = (label: string) => directory.createUser({ connection: 'email', email: uniqueEmail(label), email_verified: true }, ACTOR);

    it('stores last_login and logins_count, and answers with the user as this sign-in counted it', async () => {
      const user = await newUser('count-one');
      assert.equal(user.logins_count, 0);
      assert.equal(user.last_login, undefined);
      const before = Date.now();
      const { user: signedIn } = await pipeline.signIn(...keyOf(user.user_id));
      assert.equal(signedIn.user_id, user.user_id);
      assert.equal(signedIn.logins_count, 1);
      assert.ok(signedIn.last_login && Date.parse(signedIn.last_login) >= before - 1000);
      const stored = await directory.getUser(user.user_id);
      assert.equal(stored.logins_count, 1);
      assert.equal(stored.last_login, signedIn.last_login);
    });

    it('counts every one of many sign-ins made at once, beside other writes in the same moment', async () => {
      const user = await newUser('count-many');
      const others = Array.from({ length: 5 }, (_, i) => newUser(`count-beside-${i}`));
      const signIns = Array.from({ length: 20 }, () => pipeline.signIn(...keyOf(user.user_id)));
      await Promise.all([...signIns, ...others]);
      assert.equal((await directory.getUser(user.user_id)).logins_count, 20);
      for (const other of await Promise.all(others)) assert.equal((await directory.getUser(other.user_id)).logins_count, 0);
    });

    it('queues what is stored alongside with the count, and fails the sign-in if either fails', async () => {
      const user = await newUser('count-alongside');
      // Whether the count's write has finished, seen from the callback as it is called (a read
      // of the row there would race the count's commit on PostgreSQL).
      let countStored = false;
      const recordLogin = directory.recordLogin;
      directory.recordLogin = (...args) =>
        recordLogin.apply(directory, args).then((done) => {
          countStored = true;
          return done;
        });
      let storedWhenCalled: boolean | undefined;
      try {
        const { user: signedIn } = await pipeline.signIn(...keyOf(user.user_id), {
          alongside: async (counted) => {
            assert.equal(counted.logins_count, 1);
            // Called before the count is stored: the two writes go out together, not one after the other.
            storedWhenCalled = countStored;
          },
        });
        assert.equal(storedWhenCalled, false);
        assert.equal(countStored, true);
        assert.equal(signedIn.logins_count, 1);
      } finally {
        directory.recordLogin = recordLogin;
      }
      assert.equal((await directory.getUser(user.user_id)).logins_count, 1);
      await assert.rejects(
        pipeline.signIn(...keyOf(user.user_id), {
          alongside: async () => {
            throw new Error('could not store the result');
          },
        }),
        /could not store the result/,
      );
    });

    it("takes the identity's user as the connection read it, and reads it when the one given does not hold the identity", async () => {
      const user = await newUser('count-owner');
      const other = await newUser('count-not-owner');
      const findByIdentity = directory.findByIdentity;
      let reads = 0;
      directory.findByIdentity = (...args) => {
        reads++;
        return findByIdentity.apply(directory, args);
      };
      try {
        const given = await pipeline.signIn(...keyOf(user.user_id), { owner: user });
        assert.equal(reads, 0);
        assert.equal(given.user.user_id, user.user_id);
        const wrong = await pipeline.signIn(...keyOf(user.user_id), { owner: other });
        assert.equal(reads, 1);
        assert.equal(wrong.user.user_id, user.user_id);
        await rejectsWith(pipeline.signIn(...keyOf(user.user_id), { owner: { ...user, blocked: true } }), 'user_blocked');
      } finally {
        directory.findByIdentity = findByIdentity;
      }
      assert.equal((await directory.getUser(user.user_id)).logins_count, 2);
      assert.equal((await directory.getUser(other.user_id)).logins_count, 0);
    });

    it('neither signs in nor counts a blocked user', async () => {
      const user = await newUser('count-blocked');
      await directory.updateUser(user.user_id, { blocked: true }, ACTOR);
      await rejectsWith(pipeline.signIn(...keyOf(user.user_id)), 'user_blocked');
      assert.equal((await directory.getUser(user.user_id)).logins_count, 0);
    });
  });
}
