import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type DatabaseConnection, type Driver } from 'kysely';
import { TransactionBatcher } from '../../src/platform/transaction-batcher.ts';

interface Db {
  items: { name: string };
}

/** An in-memory SQLite whose commits are counted; commit number `failCommit` fails (Kysely then rolls back). */
async function countingDatabase() {
  const state = { commits: 0, failCommit: 0 };
  class CountingDialect extends SqliteDialect {
    override createDriver(): Driver {
      const driver = super.createDriver();
      const commit = driver.commitTransaction.bind(driver);
      driver.commitTransaction = async (connection: DatabaseConnection) => {
        state.commits += 1;
        if (state.commits === state.failCommit) throw new Error('disk I/O error');
        return commit(connection);
      };
      return driver;
    }
  }
  const db = new Kysely<Db>({ dialect: new CountingDialect({ database: new SQLite(':memory:') }) });
  await sql`create table items (name text primary key)`.execute(db);
  const names = async () => (await db.selectFrom('items').select('name').orderBy('name').execute()).map((r) => r.name);
  return { db, state, names };
}

describe('TransactionBatcher (group commit on SQLite)', () => {
  it('runs the units queued in one turn of the event loop in one transaction, one after another, and commits once', async () => {
    const { db, state, names } = await countingDatabase();
    const batcher = new TransactionBatcher(db);
    const seenBySecond: string[][] = [];
    const results = await Promise.all([
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'a' }).execute();
        return 'first';
      }),
      batcher.run(async (trx) => {
        seenBySecond.push((await trx.selectFrom('items').select('name').execute()).map((r) => r.name));
        await trx.insertInto('items').values({ name: 'b' }).execute();
        return 'second';
      }),
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'c' }).execute();
        return 'third';
      }),
    ]);
    assert.deepEqual(results, ['first', 'second', 'third']);
    assert.equal(state.commits, 1);
    assert.deepEqual(seenBySecond, [['a']]);
    assert.deepEqual(await names(), ['a', 'b', 'c']);
  });

  it('rolls back a failing unit alone: its caller gets its error, the others are stored', async () => {
    const { db, names } = await countingDatabase();
    const batcher = new TransactionBatcher(db);
    const outcomes = await Promise.allSettled([
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'kept-1' }).execute();
      }),
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'undone' }).execute();
        throw new Error('refused');
      }),
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'kept-1' }).execute();
      }), // a unique violation
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'kept-2' }).execute();
      }),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /refused/);
    assert.match(String((outcomes[2] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.deepEqual(await names(), ['kept-1', 'kept-2']);
  });

  it('fails every unit of a group whose commit fails, stores none of it, and goes on', async () => {
    const { db, state, names } = await countingDatabase();
    const batcher = new TransactionBatcher(db);
    state.failCommit = 2;
    await batcher.run(async (trx) => {
      await trx.insertInto('items').values({ name: 'alone' }).execute();
    });
    const group = [
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'lost-1' }).execute();
      }),
      batcher.run(async (trx) => {
        await trx.insertInto('items').values({ name: 'lost-2' }).execute();
      }),
    ];
    const outcomes = await Promise.allSettled(group);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected'],
    );
    assert.match(String((outcomes[0] as PromiseRejectedResult).reason), /disk I\/O error/);
    await batcher.run(async (trx) => {
      await trx.insertInto('items').values({ name: 'after' }).execute();
    });
    assert.deepEqual(await names(), ['after', 'alone']);
  });
});
