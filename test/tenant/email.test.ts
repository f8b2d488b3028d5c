import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import type { Directory } from '../../src/tenant/directory/directory.ts';
import { isPlausibleEmail, normalizeEmail } from '../../src/tenant/directory/email.ts';
import { testDatabases } from '../helpers/databases.ts';
import { ACTOR, openDirectory, rejectsWith } from '../helpers/directory.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';

const COMPOSED = 'ren\u00e9@example.com'; // é as one code point
const DECOMPOSED = 'rene\u0301@example.com'; // e + combining acute accent

/** Addresses that look like victim@example.com and must never be taken for it. */
const LOOKALIKES = {
  fullwidthAt: 'victim\uff20example.com', // ＠
  cyrillicE: 'victim@exampl\u0435.com', // Cyrillic е (U+0435)
  cyrillicEInDomain: 'victim@\u0435xample.com',
  cyrillicOInLocal: 'vict\u0456m@example.c\u043em', // Cyrillic і (U+0456) and о (U+043E)
  dotlessI: 'v\u0131ctim@example.com', // ı
  turkishCapitalI: 'V\u0130CTIM@EXAMPLE.COM', // İ lowercases to i + U+0307
  fullwidthLetters: '\uff56ictim@example.com', // ｖ
};

describe('normalizeEmail', () => {
  it('composes to NFC, so a decomposed é equals a composed one', () => {
    assert.notEqual(COMPOSED, DECOMPOSED);
    assert.equal(normalizeEmail(DECOMPOSED), normalizeEmail(COMPOSED));
    assert.equal(normalizeEmail(DECOMPOSED), COMPOSED);
    assert.equal(normalizeEmail('RENE\u0301@EXAMPLE.COM'), COMPOSED, 'decomposed and upper case');
    assert.equal(normalizeEmail('REN\u00c9@EXAMPLE.COM'), COMPOSED, 'composed É lowercases to composed é');
  });

  it('trims surrounding whitespace', () => {
    assert.equal(normalizeEmail('  victim@example.com\t\n'), 'victim@example.com');
  });

  it('ignores case: Victim@X.com is victim@x.com', () => {
    assert.equal(normalizeEmail('Victim@X.com'), normalizeEmail('victim@x.com'));
    assert.equal(normalizeEmail('VICTIM@EXAMPLE.COM'), 'victim@example.com');
    assert.equal(normalizeEmail('victim@example.com'), 'victim@example.com', 'idempotent on a normalized address');
  });

  it('keeps the fullwidth ＠ (U+FF20) distinct from @ (no NFKC folding)', () => {
    assert.notEqual(normalizeEmail(LOOKALIKES.fullwidthAt), 'victim@example.com');
    assert.ok(normalizeEmail(LOOKALIKES.fullwidthAt).includes('\uff20'));
    assert.notEqual(normalizeEmail(LOOKALIKES.fullwidthLetters), 'victim@example.com');
  });

  it('keeps Cyrillic о (U+043E) distinct from Latin o', () => {
    assert.notEqual(normalizeEmail('b\u043eb@example.com'), normalizeEmail('bob@example.com'));
    assert.notEqual(normalizeEmail('BOB@EXAMPLE.COM'), normalizeEmail('B\u041eB@EXAMPLE.COM'), 'capital Cyrillic О either');
    assert.notEqual(normalizeEmail(LOOKALIKES.cyrillicOInLocal), 'victim@example.com');
    assert.notEqual(normalizeEmail(LOOKALIKES.cyrillicE), 'victim@example.com');
  });

  it('keeps dotless ı (U+0131) and Turkish İ (U+0130) distinct from i', () => {
    assert.notEqual(normalizeEmail(LOOKALIKES.dotlessI), 'victim@example.com');
    assert.notEqual(normalizeEmail(LOOKALIKES.turkishCapitalI), 'victim@example.com');
    assert.equal(normalizeEmail('\u0130'), 'i\u0307', 'locale-independent lowercasing keeps the dot as a combining mark');
    assert.equal(normalizeEmail('VICTIM@EXAMPLE.COM'), 'victim@example.com', 'a Latin capital I is an i');
  });

  it('isPlausibleEmail wants one ASCII @ and no spaces', () => {
    assert.equal(isPlausibleEmail('victim@example.com'), true);
    assert.equal(isPlausibleEmail(COMPOSED), true);
    assert.equal(isPlausibleEmail(LOOKALIKES.fullwidthAt), false);
    assert.equal(isPlausibleEmail('a b@example.com'), false);
    assert.equal(isPlausibleEmail('a@b@example.com'), false);
  });
});

for (const db of testDatabases()) {
  describe(`findByEmail on normalized emails [${db.label}]`, () => {
    let database: Database;
    let directory: Directory;
    let cleanup: () => Promise<void>;
    const ids: Record<string, string> = {};

    before(async () => {
      ({ database, directory, cleanup } = await openDirectory(db));
      ids.victim = (await directory.createUser({ connection: 'email', email: 'Victim@Example.com', email_verified: true }, ACTOR)).user_id;
      ids.rene = (await directory.createUser({ connection: 'email', email: DECOMPOSED }, ACTOR)).user_id;
      ids.bob = (await directory.createUser({ connection: 'email', email: 'bob@example.com' }, ACTOR)).user_id;
    });
    after(async () => {
      await cleanup();
    });
    afterEach(async () => {
      await assertDirectoryInvariant(database);
    });

    const found = async (email: string) => (await directory.findByEmail(email)).map((u) => u.user_id);

    it('finds a user whatever the case, surrounding spaces or Unicode composition', async () => {
      for (const email of ['victim@example.com', 'VICTIM@EXAMPLE.COM', 'Victim@Example.com', ' victim@example.com ']) {
        assert.deepEqual(await found(email), [ids.victim], email);
      }
      assert.deepEqual(await found(COMPOSED), [ids.rene]);
      assert.deepEqual(await found(DECOMPOSED), [ids.rene]);
      assert.deepEqual(await found('REN\u00c9@example.com'), [ids.rene]);
      // The stored email is kept as given; only the match key is normalized.
      assert.equal((await directory.getUser(ids.victim!)).email, 'Victim@Example.com');
    });

    it('never matches lookalikes', async () => {
      for (const [label, email] of Object.entries(LOOKALIKES)) {
        assert.deepEqual(await found(email), [], label);
      }
      assert.deepEqual(await found('b\u043eb@example.com'), [], 'Cyrillic о');
      assert.deepEqual(await found('victim@example.com.'), []);
      assert.deepEqual(await found('victim@example.co'), []);
    });

    it('lets a lookalike address exist as a different user in the same connection', async () => {
      const cyrillic = await directory.createUser({ connection: 'email', email: 'b\u043eb@example.com' }, ACTOR);
      const dotless = await directory.createUser({ connection: 'email', email: LOOKALIKES.dotlessI }, ACTOR);
      assert.deepEqual(await found('bob@example.com'), [ids.bob]);
      assert.deepEqual(await found('b\u043eb@EXAMPLE.com'), [cyrillic.user_id]);
      assert.deepEqual(await found('victim@example.com'), [ids.victim]);
      assert.deepEqual(await found(LOOKALIKES.dotlessI), [dotless.user_id]);
      assert.deepEqual(await found('V\u0131CTIM@example.com'), [dotless.user_id]);
      // Case variants of an existing address are the same person: refused.
      await rejectsWith(directory.createUser({ connection: 'email', email: 'VICTIM@example.COM' }, ACTOR), 'user_exists');
      await rejectsWith(directory.createUser({ connection: 'email', email: COMPOSED.toUpperCase() }, ACTOR), 'user_exists');
    });
  });
}
