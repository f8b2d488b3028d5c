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
import { openDatabase } from '../src/platform/database.ts';
import { migrateToLatest } from '../src/platform/migrations.ts';
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

/** Creates (migrates) an empty database file and returns once it is closed again. */
export async function createSchema(sqliteFile: string): Promise<void> {
  const database = openDatabase({ sqliteFile });
  await migrateToLatest(database);
  await database.close();
}

const tag = () => Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');

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
  const indexes = sqlite.prepare(`select name, sql from sqlite_master
    where type = 'index' and sql is not null and tbl_name in ('users', 'identities', 'credentials')`).all() as Array<{ name: string; sql: string }>;
  for (const index of indexes) sqlite.exec(`drop index "${index.name}"`);
  const insertUser = sqlite.prepare(`insert into users (user_id, connection, email, email_normalized, email_verified, name,
      given_name, family_name, nickname, picture, phone_number, phone_verified, blocked, user_metadata, app_metadata,
      created_at, updated_at, last_login, logins_count)
    values (?, ?, ?, ?, ?, ?, null, null, ?, null, null, 0, 0, '{}', '{}', ?, ?, null, 0)`);
  const insertIdentity = sqlite.prepare(`insert into identities (provider, user_id, owner_id, connection, is_social, is_main, profile_data, connection_email, linked_at)
    values (?, ?, ?, ?, 0, 1, null, ?, ?)`);
  const insertCredential = sqlite.prepare('insert into credentials (provider, user_id, password_hash, updated_at) values (?, ?, ?, ?)');
  const base = Date.UTC(2024, 0, 1);
  // Ids shaped like Auth0's (MongoDB ObjectIds): 24 hex, creation time first, then random.
  // One buffer of randomness for all: a randomBytes call per user costs more than its insert.
  const random = randomBytes(8 * users.length).toString('hex');
  const batch = options.batch ?? 50_000;
  const write = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const u = users[i]!;
      const created = base + i * 1000;
      const id = `${Math.floor(created / 1000).toString(16).padStart(8, '0')}${random.slice(i * 16, i * 16 + 16)}`;
      const userId = `${u.connection.provider}|${id}`;
      u.userId = userId;
      const date = new Date(created).toISOString();
      const normalized = normalizeEmail(u.email);
      insertUser.run(userId, u.connection.name, u.email, normalized, i % 3 === 0 ? 1 : 0, u.email,
        u.email.slice(0, u.email.indexOf('@')), date, date);
      // Database and passwordless identities carry their normalized email (one per connection).
      insertIdentity.run(u.connection.provider, id, userId, u.connection.name, normalized, date);
      if (u.connection === DB_CONNECTION) insertCredential.run(u.connection.provider, id, passwordHash, date);
    }
  });
  for (let from = 0; from < users.length; from += batch) write(from, Math.min(users.length, from + batch));
  for (const index of indexes) sqlite.exec(index.sql);
  sqlite.pragma('journal_mode = WAL');
  // No ANALYZE: a tenant filled through the API has no planner statistics either.
  sqlite.close();
  return performance.now() - started;
}

/** Schema, `count` generated users, inserted. */
export async function seedDirectory(sqliteFile: string, count: number, extra: SeedUser[] = []): Promise<SeedResult & { all: SeedUser[] }> {
  const started = performance.now();
  await createSchema(sqliteFile);
  const { users, sharingUsers } = generateUsers(count);
  const all = [...users, ...extra];
  await insertUsers(sqliteFile, all);
  return { users: users.length, emails: users.map((u) => u.email), sharingUsers, ms: performance.now() - started, all };
}
