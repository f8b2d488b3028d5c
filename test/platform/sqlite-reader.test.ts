import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { committedReads, openDatabase } from '../../src/platform/database.ts';

describe('the SQLite read connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-reader-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads without waiting behind a transaction in progress, and sees only what is committed', async () => {
    const database = openDatabase({ sqliteFile: join(dir, 'db.sqlite') });
    await sql`create table notes (body text not null)`.execute(database.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    const writing = database.transact(async (trx) => {
      await sql`insert into notes values ('uncommitted')`.execute(trx);
      inserted();
      await held;
    });
    await insertedYet;
    const count = () => sql<{ n: number }>`select count(*) as n from notes`.execute(database.reader).then((r) => r.rows[0]!.n);
    const during = await Promise.race([count(), delay(1_000).then(() => 'waited')]);
    assert.equal(during, 0);
    release();
    await writing;
    assert.equal(await count(), 1);
    await database.close();
  });

  it('refuses to write', async () => {
    const database = openDatabase({ sqliteFile: join(dir, 'other.sqlite') });
    await sql`create table notes (body text not null)`.execute(database.db);
    await assert.rejects(sql`insert into notes values ('x')`.execute(database.reader), /readonly|read-only/i);
    await database.close();
  });

  it("reads on the writer's connection while it has no transaction open (its page cache stays valid), else on the read connection", () => {
    const file = join(dir, 'routing.sqlite');
    const writer = new SQLite(file);
    writer.pragma('journal_mode = WAL');
    writer.exec('create table notes (body text not null)');
    const readOnly = new SQLite(file);
    readOnly.pragma('query_only = ON');
    const reads = committedReads(
      writer,
      { prepare: (q: string) => writer.prepare(q), close: () => writer.close() },
      { prepare: (q: string) => readOnly.prepare(q), close: () => readOnly.close() },
    );
    const connectionOf = (q: string) => (reads.prepare(q) as unknown as SQLite.Statement).database;
    assert.equal(connectionOf('select count(*) from notes'), writer);
    assert.equal(connectionOf("insert into notes values ('x')"), readOnly, 'a write is left to the read connection, which refuses it');
    writer.exec('begin');
    writer.exec("insert into notes values ('uncommitted')");
    assert.equal(connectionOf('select count(*) from notes'), readOnly);
    assert.deepEqual(reads.prepare('select count(*) as n from notes').all([]), [{ n: 0 }]);
    writer.exec('commit');
    assert.deepEqual(reads.prepare('select count(*) as n from notes').all([]), [{ n: 1 }]);
    writer.close();
    readOnly.close();
  });
});
