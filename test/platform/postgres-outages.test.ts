/**
 * PostgreSQL going away under a running tenant: connections terminated by the server
 * (`pg_terminate_backend`, as a restart or failover does). The process must live on, log the
 * outage once, and answer again without a restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/platform/database.ts';
import { migrateToLatest } from '../../src/platform/migrations.ts';
import { api, createEmailUser } from '../helpers/management.ts';
import { startTestTenant, type TestTenant } from '../helpers/tenant.ts';

const url = process.env.DATABASE_URL;
const postgres = url !== undefined && /^postgres(ql)?:\/\//.test(url);

async function admin<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Log lines as objects, to count what an outage logged. */
function capturedLogger() {
  const lines: { msg: string; event?: string }[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('PostgreSQL connections lost under load', { skip: postgres ? false : 'DATABASE_URL is not set' }, () => {
  const schema = `accord_outage_${randomBytes(5).toString('hex')}`;
  const applicationName = `accord-outage-${randomBytes(4).toString('hex')}`;
  const log = capturedLogger();
  let database: Database;
  let t: TestTenant;

  before(async () => {
    await admin(`create schema ${schema}`);
    const withName = new URL(url!);
    withName.searchParams.set('application_name', applicationName);
    database = openDatabase({ databaseUrl: withName.toString(), pgSchema: schema, logger: log.logger, timeouts: { connectTimeoutMs: 1_000, statementTimeoutMs: 2_000 } });
    await migrateToLatest(database);
    t = await startTestTenant(database, {}, { logger: log.logger });
  });
  after(async () => {
    await t?.tenant.close();
    await database?.close();
    await admin(`drop schema ${schema} cascade`);
  });

  it('keeps the process up when every connection is terminated, logs it once and answers again at once', async () => {
    const token = await t.token();
    const user = await createEmailUser(t);
    const get = () => api(t, token).get(`/users/${encodeURIComponent(user.user_id)}`);
    assert.equal((await get()).status, 200);

    const statuses: number[] = [];
    let loading = true;
    const load = Promise.all(Array.from({ length: 8 }, async () => {
      while (loading) statuses.push((await get()).status);
    }));
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 150));
      const killed = await admin<{ pid: number }>(`select pg_terminate_backend(pid) as pid from pg_stat_activity where application_name = '${applicationName}'`);
      assert.ok(killed.length > 0, 'the pool had connections to terminate');
    }
    await new Promise((r) => setTimeout(r, 150));
    loading = false;
    await load;

    assert.ok(statuses.length > 0);
    assert.ok(statuses.includes(200), `answers during the load: ${[...new Set(statuses)].join(', ')}`);
    const started = Date.now();
    assert.equal((await get()).status, 200);
    assert.ok(Date.now() - started < 1_000);
    const outages = log.lines.filter((l) => l.event === 'dependency_unreachable');
    assert.ok(outages.length <= 3, `one line per outage, not per request: ${outages.length}`);
  });
});
