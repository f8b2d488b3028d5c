/**
 * Fast seeding for the benchmarks: the schema comes from the real migrations, the rows are
 * written with prepared statements in large transactions straight into `users`, `identities`
 * and `credentials`, in the shapes Directory#insertUser writes (user ids `<provider>|<24 hex>`,
 * `email_normalized` and the identity's `connection_email` via the real normalizeEmail,
 * name = email, nickname = local part, metadata `{}`). Not seeded: audit events (lookups never
 * read them). Passwords are not hashed 100k times: every database user shares one real argon2id hash.
 */
import { randomBytes } from 'node:crypto';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { openTenantDatabase } from '../src/tenant/tenant-database.ts';
import { migrateTenant } from '../src/tenant/migrations/tenant-migrations.ts';
import { normalizeEmail } from '../src/tenant/directory/email.ts';
import { hashPassword } from '../src/tenant/directory/passwords.ts';

export const DB_CONNECTION = { name: 'Username-Password-Authentication', provider: 'auth0' } as const;
export const EMAIL_CONNECTION = { name: 'email', provider: 'email' } as const;
type SeedConnection = typeof DB_CONNECTION | typeof EMAIL_CONNECTION;

export interface SeedUser {
  connection: SeedConnection;
  email: string;
  /** Set by the seeder. */
  userId?: string;
}

export interface SeedResult {
  users: number;
  /** Emails as stored (raw, not normalized): what a caller would look up. */
  emails: string[];
  /** How many users share their (normalized) email with another user. */
  sharingUsers: number;
  ms: number;
}

/** Creates (migrates) an empty database file, or a PostgreSQL schema (`databaseUrl` using it), and returns once it is closed again. */
export async function createSchema(sqliteFile: string, databaseUrl?: string): Promise<void> {
  const database = openTenantDatabase({ sqliteFile, databaseUrl });
  await migrateTenant(database);
  await database.close();
}

const tag = () =>
  Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');

/**
 * `count` users: a third of them in pairs sharing one email across the two connections (the
 * second of a pair spells it in another case, so only normalization makes them match), the
 * rest with unique emails, connections alternating. Emails are returned for lookups.
 */
export function generateUsers(count: number): { users: SeedUser[]; sharingUsers: number } {
  const pairs = Math.floor(count / 6);
  const users: SeedUser[] = [];
  for (let p = 0; p < pairs; p++) {
    const email = `Shared.User${p}.${tag()}@Example${p % 97}.com`;
    users.push({ connection: DB_CONNECTION, email });
    // Same address, other case: one account per email per connection, but one per connection is allowed.
    users.push({ connection: EMAIL_CONNECTION, email: email.toLowerCase() });
  }
  for (let i = users.length, n = 0; i < count; i++, n++) {
    users.push({ connection: n % 2 === 0 ? DB_CONNECTION : EMAIL_CONNECTION, email: `user${n}.${tag()}@example${n % 89}.org` });
  }
  return { users, sharingUsers: pairs * 2 };
}

/**
 * The rows of the i-th user of `users` (setting its userId): ids shaped like Auth0's (MongoDB
 * ObjectIds), 24 hex, creation time first, then random; one buffer of randomness for all (a
 * randomBytes call per user costs more than its insert). Every third user has a verified email.
 */
function seedRows(users: SeedUser[]) {
  const base = Date.UTC(2024, 0, 1);
  const random = randomBytes(8 * users.length).toString('hex');
  return (i: number) => {
    const u = users[i]!;
    const created = base + i * 1000;
    const id = `${Math.floor(created / 1000)
      .toString(16)
      .padStart(8, '0')}${random.slice(i * 16, i * 16 + 16)}`;
    const userId = `${u.connection.provider}|${id}`;
    u.userId = userId;
    return {
      id,
      userId,
      provider: u.connection.provider,
      connection: u.connection.name,
      email: u.email,
      normalized: normalizeEmail(u.email),
      verified: i % 3 === 0 ? 1 : 0,
      nickname: u.email.slice(0, u.email.indexOf('@')),
      date: new Date(created).toISOString(),
      hasPassword: u.connection === DB_CONNECTION,
    };
  };
}

/** Inserts `users` (and their main identities and credentials) in transactions of `batch` users. */
export async function insertUsers(sqliteFile: string, users: SeedUser[], options: { batch?: number } = {}): Promise<number> {
  const started = performance.now();
  const passwordHash = await hashPassword('Bench-seed-password-1');
  const sqlite = new SQLite(sqliteFile);
  // Seeding only: this connection skips the journal and fsyncs, and builds the secondary
  // indexes once at the end (sorted, far faster than 1M random inserts into each) from the
  // exact SQL the migrations created them with. The tenant later opens the file in WAL mode.
  sqlite.pragma('journal_mode = OFF');
  sqlite.pragma('synchronous = OFF');
  sqlite.pragma('cache_size = -1048576'); // 1 GiB: every b-tree of the load stays in memory until the end
  // Rows are consistent by construction; checking every identity's owner would only slow the load.
  sqlite.pragma('foreign_keys = OFF');
  const indexes = sqlite
    .prepare(`select name, sql from sqlite_master
    where type = 'index' and sql is not null and tbl_name in ('users', 'identities', 'credentials')`)
    .all() as Array<{ name: string; sql: string }>;
  for (const index of indexes) sqlite.exec(`drop index "${index.name}"`);
  const insertUser = sqlite.prepare(`insert into users (user_id, connection, email, email_normalized, email_verified, name,
      given_name, family_name, nickname, picture, phone_number, phone_verified, blocked, user_metadata, app_metadata,
      created_at, updated_at, last_login, logins_count)
    values (?, ?, ?, ?, ?, ?, null, null, ?, null, null, 0, 0, '{}', '{}', ?, ?, null, 0)`);
  const insertIdentity =
    sqlite.prepare(`insert into identities (provider, user_id, owner_id, connection, is_social, is_main, profile_data, connection_email, linked_at)
    values (?, ?, ?, ?, 0, 1, null, ?, ?)`);
  const insertCredential = sqlite.prepare('insert into credentials (provider, user_id, password_hash, updated_at) values (?, ?, ?, ?)');
  const rows = seedRows(users);
  const batch = options.batch ?? 50_000;
  const write = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const r = rows(i);
      insertUser.run(r.userId, r.connection, r.email, r.normalized, r.verified, r.email, r.nickname, r.date, r.date);
      // Database and passwordless identities carry their normalized email (one per connection).
      insertIdentity.run(r.provider, r.id, r.userId, r.connection, r.normalized, r.date);
      if (r.hasPassword) insertCredential.run(r.provider, r.id, passwordHash, r.date);
    }
  });
  for (let from = 0; from < users.length; from += batch) write(from, Math.min(users.length, from + batch));
  for (const index of indexes) sqlite.exec(index.sql);
  sqlite.pragma('journal_mode = WAL');
  // No ANALYZE: a tenant filled through the API has no planner statistics either.
  sqlite.close();
  return performance.now() - started;
}

/**
 * The same rows in PostgreSQL (a schema `databaseUrl` uses, migrated), written with one
 * `insert … select from unnest(…)` per table and batch. The secondary indexes are dropped first and
 * built again at the end from their own definitions, then the tables analyzed (autovacuum would
 * do it a minute later in a tenant that grew this fast).
 */
export async function insertUsersPostgres(databaseUrl: string, users: SeedUser[], options: { batch?: number } = {}): Promise<number> {
  const started = performance.now();
  const passwordHash = await hashPassword('Bench-seed-password-1');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const indexes = (
      await client.query<{ name: string; definition: string }>(`select indexname as name, indexdef as definition from pg_indexes
      where schemaname = current_schema() and tablename in ('users', 'identities', 'credentials') and indexname not like '%_pkey' and indexname not like '%_pk'`)
    ).rows;
    for (const index of indexes) await client.query(`drop index "${index.name}"`);
    const rows = seedRows(users);
    const batch = options.batch ?? 20_000;
    for (let from = 0; from < users.length; from += batch) {
      const slice = Array.from({ length: Math.min(batch, users.length - from) }, (_, k) => rows(from + k));
      const column = <K extends keyof ReturnType<typeof rows>>(key: K) => slice.map((r) => r[key]);
      const withPassword = slice.filter((r) => r.hasPassword);
      await client.query('begin');
      await client.query(
        `insert into users (user_id, connection, email, email_normalized, email_verified, name, nickname, created_at, updated_at)
        select u, c, e, n, v, e, k, d, d from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[]) as t(u, c, e, n, v, k, d)`,
        [column('userId'), column('connection'), column('email'), column('normalized'), column('verified'), column('nickname'), column('date')],
      );
      await client.query(
        `insert into identities (provider, user_id, owner_id, connection, is_social, is_main, profile_data, connection_email, linked_at)
        select p, i, u, c, 0, 1, null, n, d from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(p, i, u, c, n, d)`,
        [column('provider'), column('id'), column('userId'), column('connection'), column('normalized'), column('date')],
      );
      await client.query(
        `insert into credentials (provider, user_id, password_hash, updated_at)
        select p, i, $3, d from unnest($1::text[], $2::text[], $4::text[]) as t(p, i, d)`,
        [withPassword.map((r) => r.provider), withPassword.map((r) => r.id), passwordHash, withPassword.map((r) => r.date)],
      );
      await client.query('commit');
    }
    for (const index of indexes) await client.query(index.definition);
    await client.query('analyze users, identities, credentials');
  } finally {
    await client.end();
  }
  return performance.now() - started;
}

/** Schema, `count` generated users, inserted: in a SQLite file, or with `databaseUrl` in PostgreSQL. */
export async function seedDirectory(
  sqliteFile: string,
  count: number,
  extra: SeedUser[] = [],
  databaseUrl?: string,
): Promise<SeedResult & { all: SeedUser[] }> {
  const started = performance.now();
  await createSchema(sqliteFile, databaseUrl);
  const { users, sharingUsers } = generateUsers(count);
  const all = [...users, ...extra];
  if (databaseUrl) await insertUsersPostgres(databaseUrl, all);
  else await insertUsers(sqliteFile, all);
  return { users: users.length, emails: users.map((u) => u.email), sharingUsers, ms: performance.now() - started, all };
}
