import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseOptions } from '../../src/platform/database.ts';
import { migrateApp, openAppDatabase, type AppDatabase } from '../../src/app/app-database.ts';

export interface OpenedAppDatabase {
  database: AppDatabase;
  /** Opens the same database again (e.g. as the tenant would, to share it). */
  options: DatabaseOptions;
  cleanup(): Promise<void>;
}

export interface TestAppDatabase {
  label: 'sqlite' | 'postgres';
  /** Opens a fresh, migrated, empty app database; `cleanup` drops it. */
  open(): Promise<OpenedAppDatabase>;
}

const sqlite: TestAppDatabase = {
  label: 'sqlite',
  async open() {
    // A file rather than :memory:, so a second connection (`options`) sees the same database.
    const dir = mkdtempSync(join(tmpdir(), 'accord-app-'));
    const options = { sqliteFile: join(dir, 'app.db') };
    const database = openAppDatabase(options);
    const cleanup = async () => {
      await database.close();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await migrateApp(database);
    } catch (err) {
      await cleanup();
      throw err;
    }
    return { database, options, cleanup };
  },
};

function postgres(url: string): TestAppDatabase {
  return {
    label: 'postgres',
    async open() {
      // Each suite gets its own schema, so suites can run side by side on one server.
      const schema = `accord_app_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      const options = { databaseUrl: url, pgSchema: schema };
      const database = openAppDatabase(options);
      const cleanup = async () => {
        await database.close();
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`drop schema ${schema} cascade`);
        await c.end();
      };
      try {
        await migrateApp(database);
      } catch (err) {
        await cleanup();
        throw err;
      }
      return { database, options, cleanup };
    },
  };
}

let reported = false;

/** SQLite always; PostgreSQL too when DATABASE_URL is set (CI sets it). */
export function testAppDatabases(): TestAppDatabase[] {
  const url = process.env.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) return [sqlite, postgres(url)];
  if (!reported) {
    reported = true;
    console.log('# PostgreSQL variants skipped: DATABASE_URL is not set (set DATABASE_URL=postgres://… to run them).');
  }
  return [sqlite];
}

/** REDIS_URL, or a Redis on 127.0.0.1:6379; `url` is undefined (with the reason) when none answers. */
export async function testRedis(): Promise<{ url: string } | { url: undefined; reason: string }> {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  let host: string;
  let port: number;
  try {
    const parsed = new URL(url);
    host = parsed.hostname || '127.0.0.1';
    port = Number(parsed.port || 6379);
  } catch {
    return { url: undefined, reason: `REDIS_URL is not a URL (${url})` };
  }
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  return reachable ? { url } : { url: undefined, reason: `no Redis answers at ${host}:${port} (set REDIS_URL to run it)` };
}
