import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { openAppDatabase, type AppDatabase } from '../../src/app/app-database.ts';
import { migrateApp } from '../../src/app/migrations/app-migrations.ts';
import { databaseVariants, type DatabaseVariant, type OpenedDatabase } from './database-variants.ts';
import { testDatabases, type TestDatabase } from './databases.ts';

/** Tries before a suite gives up on Redis: on a loaded machine one try can time out spuriously. */
const REDIS_PROBE_ATTEMPTS = 3;

/**
 * Whether a TCP connection to host:port opens within 2 s. The timeout is judged after the
 * event loop has polled once more (setImmediate), so a loop held up by synchronous work (module
 * loading under load) does not fire the timer ahead of a connection that has already opened.
 */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => setImmediate(() => done(false)));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** An app database to run a suite on; `options` opens the same one again. */
export type OpenedAppDatabase = OpenedDatabase<AppDatabase>;
export type TestAppDatabase = DatabaseVariant<AppDatabase>;

/** SQLite (in a file, so a second connection sees it) always; PostgreSQL too when DATABASE_URL is set. */
export function testAppDatabases(): TestAppDatabase[] {
  return databaseVariants({ open: openAppDatabase, migrate: migrateApp }, { prefix: 'accord-app-test', sqlite: 'file' });
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
  let reachable = false;
  for (let attempt = 0; attempt < REDIS_PROBE_ATTEMPTS && !reachable; attempt++) reachable = await answers(host, port);
  return reachable ? { url } : { url: undefined, reason: `no Redis answers at ${host}:${port} (set REDIS_URL to run it)` };
}

/** Accord on a tenant database and an app database, its sessions in the app database or in Redis. */
export interface StoreVariant {
  label: string;
  db: TestDatabase;
  appDb: TestAppDatabase;
  env: Record<string, string>;
  redisKeyPrefix?: string;
}

/** The SQL session store on each database, and Redis (on SQLite) when one answers. */
export async function sessionStoreVariants(): Promise<StoreVariant[]> {
  const databases = testDatabases();
  const appDatabases = testAppDatabases();
  const variants: StoreVariant[] = databases.map((db, i) => ({ label: `${db.label} sessions`, db, appDb: appDatabases[i]!, env: {} }));
  const redis = await testRedis();
  if (redis.url === undefined) console.log(`# Redis session variants skipped: ${redis.reason}`);
  else {
    variants.push({
      label: 'redis sessions',
      db: databases[0]!,
      appDb: appDatabases[0]!,
      env: { REDIS_URL: redis.url },
      redisKeyPrefix: `accord-test-${randomBytes(6).toString('hex')}:`,
    });
  }
  return variants;
}
