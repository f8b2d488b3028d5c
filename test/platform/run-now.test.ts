import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { openDatabase } from '../../src/platform/database.ts';

const insert = (body: string) => CompiledQuery.raw('insert into notes (body) values (?)', [body]);
const count = CompiledQuery.raw('select count(*) as n from notes');
const take = (body: string) => CompiledQuery.raw('delete from notes where body = ? returning id', [body]);

describe('Database.runNow (SQLite statements without Kysely’s promises)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-run-now-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers what Kysely answers: rows, or the changes and the inserted row id', async () => {
    const database = openDatabase({ sqliteFile: join(dir, 'same.sqlite') });
    await sql`create table notes (id integer primary key, body text not null)`.execute(database.db);
    const [byKysely, byRunNow] = await database.transact(async (trx) => [await trx.executeQuery(insert('a')), database.runNow!.inTransaction(insert('b'))]);
    assert.deepEqual(byKysely, { numAffectedRows: 1n, insertId: 1n, rows: [] });
    assert.deepEqual(byRunNow, { numAffectedRows: 1n, insertId: 2n, rows: [] });
    assert.deepEqual(database.runNow!.committed(count), await database.reader.executeQuery(count));
    // Rows as arrays of values, in the select's order; the statement, shared by its SQL, then answers objects again.
    const both = CompiledQuery.raw('select body, id from notes order by id');
    assert.deepEqual(database.runNow!.committedValues(both), [
      ['a', 1],
      ['b', 2],
    ]);
    assert.deepEqual(database.runNow!.committed(both)?.rows, [
      { body: 'a', id: 1 },
      { body: 'b', id: 2 },
    ]);
    assert.deepEqual((await database.reader.executeQuery(both)).rows[0], { body: 'a', id: 1 });
    // In a transaction too, what it has written among them; the statement answers objects again after.
    assert.deepEqual(
      await database.transact(async (trx) => {
        await trx.executeQuery(insert('c'));
        return database.runNow!.valuesInTransaction(both);
      }),
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
      ],
    );
    assert.deepEqual((await database.transact(async () => database.runNow!.inTransaction(both))).rows[2], { body: 'c', id: 3 });
    await database.transact(async () => database.runNow!.inTransaction(take('c')));
    // A statement that returns rows is read, as Kysely's driver does (better-sqlite3's `reader`).
    assert.deepEqual(await database.transact(async () => database.runNow!.inTransaction(take('b'))), { rows: [{ id: 2 }] });
    await database.close();
  });

  it('reads inside a transaction what it wrote, and outside only what is committed', async () => {
    const database = openDatabase({ sqliteFile: join(dir, 'isolation.sqlite') });
    await sql`create table notes (id integer primary key, body text not null)`.execute(database.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written!: (n: unknown) => void;
    const seen = new Promise((resolve) => {
      written = resolve;
    });
    const writing = database.transact(async () => {
      database.runNow!.inTransaction(insert('uncommitted'));
      written(database.runNow!.inTransaction(count).rows[0]);
      await held;
    });
    assert.deepEqual(await seen, { n: 1 });
    assert.deepEqual(database.runNow!.committed(count)?.rows[0], { n: 0 });
    release();
    await writing;
    assert.deepEqual(database.runNow!.committed(count)?.rows[0], { n: 1 });
    await database.close();
  });

  it('in memory, where one connection holds the transaction, declines to read committed data while one is open', async () => {
    const database = openDatabase({ sqliteFile: ':memory:' });
    await sql`create table notes (id integer primary key, body text not null)`.execute(database.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const open = new Promise<void>((resolve) => {
      started = resolve;
    });
    const writing = database.transact(async () => {
      database.runNow!.inTransaction(insert('uncommitted'));
      started();
      await held;
    });
    await open;
    assert.equal(database.runNow!.committed(count), undefined);
    assert.equal(database.runNow!.committedValues(count), undefined);
    release();
    await writing;
    assert.deepEqual(database.runNow!.committed(count)?.rows[0], { n: 1 });
    await database.close();
  });
});
