import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/platform/database.ts';

describe('the SQLite read connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-reader-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads without waiting behind a transaction in progress, and sees only what is committed', async () => {
    const database = openDatabase({ sqliteFile: join(dir, 'db.sqlite') });
    await sql`create table notes (body text not null)`.execute(database.db);
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let inserted!: () => void;
    const insertedYet = new Promise<void>((resolve) => { inserted = resolve; });
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
});
