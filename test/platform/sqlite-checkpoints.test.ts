import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/platform/database.ts';

describe('SQLite checkpoints in the background', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-checkpoints-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('copies committed pages into the database file from another thread, and stops with the database', async () => {
    const file = join(dir, 'db.sqlite');
    const database = openDatabase({ sqliteFile: file });
    await sql`create table notes (body text not null)`.execute(database.db);
    // ~2 MB: 500 pages, under the writer's own threshold, so only the thread can move them.
    for (let i = 0; i < 500; i++) await sql`insert into notes values (${'x'.repeat(4000)})`.execute(database.db);
    assert.ok(statSync(`${file}-wal`).size > 2_000_000);
    let size = statSync(file).size;
    for (let waited = 0; size < 2_000_000 && waited < 5_000; waited += 50) {
      await delay(50);
      size = statSync(file).size;
    }
    assert.ok(size >= 2_000_000, `the database file is still ${size} bytes`);
    const started = Date.now();
    await database.close();
    assert.ok(Date.now() - started < 1_500, 'close waits for the thread, briefly');
    const reopened = openDatabase({ sqliteFile: file });
    assert.equal((await sql<{ n: number }>`select count(*) as n from notes`.execute(reopened.db)).rows[0]!.n, 500);
    await reopened.close();
  });
});
