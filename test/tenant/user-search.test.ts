import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Database } from '../../src/tenant/tenant-database.ts';
import { AccordError } from '../../src/platform/errors.ts';
import type { Directory } from '../../src/tenant/directory/directory.ts';
import { parseUserSearch, type SearchClause } from '../../src/tenant/directory/user-search.ts';
import { testDatabases } from '../helpers/databases.ts';
import { ACTOR, openDirectory } from '../helpers/directory.ts';
import { assertDirectoryInvariant } from '../helpers/invariants.ts';

const term = (field: SearchClause['field'], value: string, extra: Partial<SearchClause> = {}): SearchClause => ({
  field,
  value,
  negate: false,
  prefix: false,
  ...extra,
});

function assertRejected(q: string, why?: RegExp): void {
  assert.throws(
    () => parseUserSearch(q),
    (err: unknown) => {
      assert.ok(err instanceof AccordError, `${q}: expected an AccordError, got ${String(err)}`);
      assert.equal(err.code, 'invalid_query_string', q);
      if (why) assert.match(err.message, why, q);
      return true;
    },
    `${JSON.stringify(q)} should be refused`,
  );
}

describe('parseUserSearch', () => {
  it('accepts field:value, quoted values, prefixes, negation and AND', () => {
    assert.deepEqual(parseUserSearch('email:a@x.com'), [term('email', 'a@x.com')]);
    assert.deepEqual(parseUserSearch('email:"a@x.com"'), [term('email', 'a@x.com')]);
    assert.deepEqual(parseUserSearch('name:"Ada Lovelace"'), [term('name', 'Ada Lovelace')]);
    assert.deepEqual(parseUserSearch('name:"say \\"hi\\" \\\\ bye"'), [term('name', 'say "hi" \\ bye')], 'escapes inside quotes');
    assert.deepEqual(parseUserSearch('name:ada*'), [term('name', 'ada', { prefix: true })]);
    assert.deepEqual(parseUserSearch('email:ada@*'), [term('email', 'ada@', { prefix: true })]);
    assert.deepEqual(parseUserSearch('name:"ada*"'), [term('name', 'ada*')], 'a quoted * is literal');
    assert.deepEqual(parseUserSearch('email_verified:true'), [term('email_verified', 'true')]);
    assert.deepEqual(parseUserSearch('email_verified:"false"'), [term('email_verified', 'false')]);
    assert.deepEqual(parseUserSearch('blocked:false'), [term('blocked', 'false')]);
    assert.deepEqual(parseUserSearch('user_id:"auth0|abc"'), [term('user_id', 'auth0|abc')]);
    assert.deepEqual(parseUserSearch('user_id:oidc|corp|a|b'), [term('user_id', 'oidc|corp|a|b')]);
    assert.deepEqual(parseUserSearch('identities.connection:"google-oauth2"'), [term('identities.connection', 'google-oauth2')]);
    assert.deepEqual(parseUserSearch('identities.provider:email'), [term('identities.provider', 'email')]);
    assert.deepEqual(parseUserSearch('identities.user_id:115015401343387192604'), [term('identities.user_id', '115015401343387192604')]);
    assert.deepEqual(parseUserSearch('-user_id:"auth0|abc"'), [term('user_id', 'auth0|abc', { negate: true })]);
    assert.deepEqual(parseUserSearch('NOT  email_verified:true'), [term('email_verified', 'true', { negate: true })]);
    // Auth0's account-linking sample sends exactly this.
    assert.deepEqual(parseUserSearch('email:"a@x.com" AND email_verified:true -user_id:"auth0|abc"'), [
      term('email', 'a@x.com'),
      term('email_verified', 'true'),
      term('user_id', 'auth0|abc', { negate: true }),
    ]);
    assert.deepEqual(parseUserSearch('  email:a@x.com   AND\tname:Ada  '), [term('email', 'a@x.com'), term('name', 'Ada')]);
    assert.deepEqual(parseUserSearch(''), []);
    assert.deepEqual(parseUserSearch('   '), []);
    const ten = Array.from({ length: 10 }, (_, i) => `name:n${i}`).join(' AND ');
    assert.equal(parseUserSearch(ten).length, 10);
  });

  it('refuses OR and parentheses', () => {
    assertRejected('email:a@x.com OR email:b@x.com', /OR/);
    assertRejected('email:a@x.com OR');
    assertRejected('email:a@x.com || email:b@x.com');
    assertRejected('(email:a@x.com)');
    assertRejected('email:(a@x.com)', /parenthes/);
    assertRejected('email:a@x.com)', /parenthes/);
    assertRejected('email:a@x.com AND (name:x OR name:y)');
  });

  it('refuses unknown fields and malformed terms', () => {
    assertRejected('password:secret', /unsupported field/);
    assertRejected('app_metadata.roles:admin', /unsupported field/);
    assertRejected('user_metadata.plan:gold');
    assertRejected('EMAIL:a@x.com');
    assertRejected('a@x.com', /field:value/);
    assertRejected('email:', /empty value/);
    assertRejected('email:""', /empty value/);
    assertRejected('-');
    assertRejected('AND email:a@x.com', /AND/);
    assertRejected('email:a@x.com AND', /AND|field/);
    assertRejected('email:a@x.com AND AND name:x');
  });

  it('refuses an unterminated quote', () => {
    assertRejected('email:"a@x.com', /unterminated/);
    assertRejected('name:"ada \\"', /unterminated/);
    assertRejected('name:"x" AND email:"', /unterminated/);
  });

  it('allows a wildcard only at the end of an email or name, after at least 3 characters', () => {
    assertRejected('user_id:auth0*', /wildcard/);
    assertRejected('identities.connection:goo*', /wildcard/);
    assertRejected('email_verified:tr*', /wildcard/);
    assertRejected('name:ab*', /3 characters/);
    assertRejected('email:*', /3 characters/);
    assertRejected('name:**', /3 characters|wildcard/);
    assertRejected('name:a*da', /end/);
    assertRejected('name:*ada', /end/);
    assertRejected('name:ada**', /end/);
  });

  it('wants true or false for email_verified and blocked', () => {
    for (const value of ['yes', '1', 'TRUE', '"True"', 'truex']) assertRejected(`email_verified:${value}`, /true or false/);
    assertRejected('blocked:0', /true or false/);
  });

  it('refuses more than 10 terms', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `name:n${i}`).join(' AND ');
    assertRejected(eleven, /10 terms/);
    assertRejected(Array.from({ length: 11 }, (_, i) => `-name:n${i}`).join(' '), /10 terms/);
  });

  it('keeps SQL-looking input as data', () => {
    assert.deepEqual(parseUserSearch('email:"x\\" OR 1=1 --"'), [term('email', 'x" OR 1=1 --')]);
    assert.deepEqual(parseUserSearch('name:"\'; drop table users; --"'), [term('name', "'; drop table users; --")]);
    assert.deepEqual(parseUserSearch('name:%%%*'), [term('name', '%%%', { prefix: true })]);
    assert.deepEqual(parseUserSearch('user_id:%'), [term('user_id', '%')]);
  });
});

for (const db of testDatabases()) {
  describe(`user search values are data, never SQL [${db.label}]`, () => {
    let database: Database;
    let directory: Directory;
    let cleanup: () => Promise<void>;
    let everyone: number;

    before(async () => {
      ({ database, directory, cleanup } = await openDirectory(db));
      const seeded = ['Ada Lovelace', 'Adam Smith', 'Grace Hopper', '100% Pure', 'snake_case', 'back\\slash'];
      for (const [i, name] of seeded.entries()) {
        await directory.createUser({ connection: 'email', email: `user${i}@example.com`, email_verified: i % 2 === 0, name }, ACTOR);
      }
      await directory.createUser({ connection: 'email', email: 'under_score@example.com', name: 'Under Score' }, ACTOR);
      everyone = seeded.length + 1;
    });
    after(async () => {
      await cleanup();
    });
    afterEach(async () => {
      await assertDirectoryInvariant(database);
    });

    const names = async (q: string) =>
      (await directory.listUsers({ q, page: 0, perPage: 100, sort: { field: 'name', direction: 1 } })).users.map((u) => u.name);

    it('finds nothing for injection attempts, and does not error', async () => {
      for (const q of [
        'email:"x\\" OR 1=1 --"',
        "email:\"x' OR '1'='1\"",
        'name:"\'; drop table users; --"',
        "name:\"x') OR ('a'='a\"",
        'user_id:"x\' OR 1=1 --"',
        'identities.connection:"email\' OR 1=1 --"',
        'identities.user_id:"x\\" OR \\"\\"=\\""',
      ]) {
        const result = await directory.listUsers({ q, page: 0, perPage: 100 });
        assert.deepEqual(result, { users: [], total: 0 }, q);
      }
      // Negated, the same value excludes nothing: it really compared against the literal.
      assert.equal((await directory.listUsers({ q: 'email:"x\\" OR 1=1 --" AND -name:"\'; drop table users; --"', page: 0, perPage: 100 })).total, 0);
      assert.equal((await directory.listUsers({ q: '-name:"\'; drop table users; --"', page: 0, perPage: 100 })).total, everyone);
      const count = await database.db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), everyone, 'the table is still there, and whole');
    });

    it('treats % and _ as literal characters, in exact values and in prefixes', async () => {
      assert.deepEqual(await names('name:"%"'), []);
      assert.deepEqual(await names('user_id:%'), []);
      assert.deepEqual(await names('email:%'), []);
      assert.deepEqual(await names('name:%%%*'), [], 'a LIKE prefix of % does not match everything');
      assert.deepEqual(await names('email:%%%*'), []);
      assert.deepEqual(await names('email:___*'), [], '_ is not a single-character wildcard');
      assert.deepEqual(await names('name:___*'), []);
      assert.deepEqual(await names('name:ad%*'), []);
      assert.deepEqual(await names('name:100%*'), ['100% Pure'], 'a real % is found');
      assert.deepEqual(await names('name:snake_*'), ['snake_case']);
      assert.deepEqual(await names('name:snakexcase'), []);
      assert.deepEqual(await names('email:under_*'), ['Under Score']);
      assert.deepEqual(await names('email:underxscore@example.com'), [], '_ matched literally in exact comparisons too');
      assert.deepEqual(await names('name:"back\\\\slash"'), ['back\\slash'], 'a backslash, the LIKE escape character, as data');
      assert.deepEqual(await names('name:back\\*'), ['back\\slash'], 'a backslash inside a prefix');
      assert.deepEqual(await names('name:ada*'), ['Ada Lovelace', 'Adam Smith'], 'while real prefixes still work');
    });
  });
}
