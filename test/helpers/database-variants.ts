import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { DatabaseOptions } from '../../src/platform/database.ts';

export interface OpenedDatabase<D> {
  database: D;
  /** Opens the same database again (e.g. to share it with another half). */
  options: DatabaseOptions;
  cleanup(): Promise<void>;
}

export interface DatabaseVariant<D> {
  label: 'sqlite' | 'postgres';
  /** Opens a fresh, migrated, empty database; `cleanup` drops it. */
  open(): Promise<OpenedDatabase<D>>;
}

interface Opener<D> {
  open(options: DatabaseOptions): D;
  migrate(database: D): Promise<unknown>;
}

type Closable = { close(): Promise<void> };

async function migrated<D extends Closable>(opener: Opener<D>, options: DatabaseOptions, remove: () => Promise<void>): Promise<OpenedDatabase<D>> {
  const database = opener.open(options);
  const cleanup = async () => {
    await database.close();
    await remove();
  };
  try {
    await opener.migrate(database);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { database, options, cleanup };
}

function sqliteMemory<D extends Closable>(opener: Opener<D>): DatabaseVariant<D> {
  return { label: 'sqlite', open: () => migrated(opener, { sqliteFile: ':memory:' }, async () => {}) };
}

/** SQLite in a fresh file, as `npm start` keeps it (WAL and all), removed at cleanup. */
function sqliteFile<D extends Closable>(opener: Opener<D>, prefix: string): DatabaseVariant<D> {
  return {
    label: 'sqlite',
    open() {
      const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
      return migrated(opener, { sqliteFile: join(dir, 'db.sqlite') }, async () => rmSync(dir, { recursive: true, force: true }));
    },
  };
}

/** Runs one statement on its own connection (schemas made and dropped around a suite). */
export async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Each suite gets its own schema, so suites can run side by side on one server. */
function postgresSchema<D extends Closable>(opener: Opener<D>, url: string, prefix: string): DatabaseVariant<D> {
  return {
    label: 'postgres',
    async open() {
      const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
      await adminQuery(url, `create schema ${schema}`);
      return migrated(opener, { databaseUrl: url, pgSchema: schema }, () => adminQuery(url, `drop schema ${schema} cascade`));
    },
  };
}

let reported = false;

/** SQLite always (in memory, or in a file); PostgreSQL too when DATABASE_URL is set (CI sets it). */
export function databaseVariants<D extends Closable>(opener: Opener<D>, options: { prefix: string; sqlite?: 'memory' | 'file' }): DatabaseVariant<D>[] {
  const first = options.sqlite === 'file' ? sqliteFile(opener, options.prefix) : sqliteMemory(opener);
  const url = process.env.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) return [first, postgresSchema(opener, url, options.prefix.replaceAll('-', '_'))];
  if (!reported) {
    reported = true;
    console.log('# PostgreSQL variants skipped: DATABASE_URL is not set (set DATABASE_URL=postgres://… to run them).');
  }
  return [first];
}
