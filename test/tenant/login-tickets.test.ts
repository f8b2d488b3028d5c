import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { LoginTickets } from '../../src/tenant/login/login-tickets.ts';
import { testDatabases } from '../helpers/databases.ts';

for (const db of testDatabases({ sqlite: 'file' })) {
  describe(`LoginTickets: mailed codes [${db.label}]`, () => {
    let database: Database;
    let cleanup: () => Promise<void>;
    let tickets: LoginTickets;
    let units: number;

    before(async () => {
      ({ database, cleanup } = await db.open());
      // Every unit of writing work, whichever way it is handed to the database.
      units = 0;
      const { transact, write } = database;
      database.transact = (work) => {
        units++;
        return transact(work);
      };
      database.write = (query) => {
        units++;
        return write(query);
      };
      tickets = new LoginTickets(database);
    });
    after(async () => {
      await cleanup();
    });

    const attemptsOf = async (uid: string) =>
      Number((await database.db.selectFrom('login_tickets').select('attempts').where('interaction_uid', '=', uid).executeTakeFirstOrThrow()).attempts);

    it('counts a wrong guess, and counts and consumes a right one in one unit of work', async () => {
      const uid = `uid-${Date.now()}-right`;
      const code = await tickets.issueCode('email', uid, 'Someone@Example.com', 600);
      const wrong = code === '000000' ? '000001' : '000000';
      units = 0;
      assert.deepEqual(await tickets.checkCode('email', uid, 'someone@example.com', wrong, 5), { ok: false, reason: 'wrong', triesLeft: 4 });
      assert.equal(await attemptsOf(uid), 1);
      assert.equal(units, 1);
      units = 0;
      assert.deepEqual(await tickets.checkCode('email', uid, 'someone@example.com', code, 5), { ok: true });
      assert.equal(units, 1, 'the count and the consumption are one unit');
      assert.equal(await attemptsOf(uid), 2);
      assert.deepEqual(await tickets.checkCode('email', uid, 'someone@example.com', code, 5), { ok: false, reason: 'missing' });
    });

    it('refuses the last allowed guess when wrong, then every guess, the right one included', async () => {
      const uid = `uid-${Date.now()}-exhausted`;
      const code = await tickets.issueCode('email', uid, 'other@example.com', 600);
      const wrong = code === '000000' ? '000001' : '000000';
      for (let left = 1; left >= 0; left--) {
        const result = await tickets.checkCode('email', uid, 'other@example.com', wrong, 2);
        assert.deepEqual(result, left > 0 ? { ok: false, reason: 'wrong', triesLeft: left } : { ok: false, reason: 'exhausted' });
      }
      assert.deepEqual(await tickets.checkCode('email', uid, 'other@example.com', code, 2), { ok: false, reason: 'exhausted' });
      assert.equal(await attemptsOf(uid), 2);
    });

    it('counts parallel guesses up to the limit and no further', async () => {
      const uid = `uid-${Date.now()}-parallel`;
      const code = await tickets.issueCode('email', uid, 'parallel@example.com', 600);
      const wrong = code === '000000' ? '000001' : '000000';
      const results = await Promise.all(Array.from({ length: 8 }, () => tickets.checkCode('email', uid, 'parallel@example.com', wrong, 5)));
      assert.equal(results.filter((r) => !r.ok && r.reason === 'wrong').length, 4);
      assert.equal(await attemptsOf(uid), 5);
      assert.deepEqual(await tickets.checkCode('email', uid, 'parallel@example.com', code, 5), { ok: false, reason: 'exhausted' });
    });
  });
}
