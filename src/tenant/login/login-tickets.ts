import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { executeNow } from '../../platform/database.ts';
import { prepareQuery } from '../../platform/prepared-query.ts';
import { epochSeconds } from '../../platform/time.ts';
import { normalizeEmail } from '../directory/email.ts';
import type { Database, LoginTicketsTable, Schema } from '../tenant-database.ts';

/**
 * Every secret the tenant mails is a row of login_tickets, stored only as a SHA-256 hash and
 * used once: the links of the database connection (confirm an address, reset a password),
 * opened in any browser and bound to an identity, and the passwordless connection's codes,
 * bound to one sign-in (an interaction) and counted per guess.
 */

/** The secrets mailed as links. */
export type LinkKind = 'verify_email' | 'reset_password';
export type LinkState = { status: 'valid'; ticket: LoginTicketsTable } | { status: 'expired' | 'invalid' };
export type CodeCheck = { ok: true } | { ok: false; reason: 'missing' | 'expired' | 'exhausted' } | { ok: false; reason: 'wrong'; triesLeft: number };

const CODE_KIND = 'email_code';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * What is stored for a code: its SHA-256 together with what it is bound to, so equal codes
 * of different people or attempts never collide and a stored hash says nothing by itself.
 */
function codeHash(connection: string, uid: string, emailNormalized: string, code: string): string {
  return sha256(`${CODE_KIND}\0${connection}\0${uid}\0${emailNormalized}\0${code}`);
}

/**
 * The code's statements, compiled once (see prepareQuery): a passwordless sign-in runs all six.
 * The lookup's LIMIT is a literal: SQLite re-plans a statement whose LIMIT is bound on every run.
 */
function codeQueries(db: Kysely<Schema>) {
  return {
    retireEarlier: prepareQuery(['connection', 'email', 'uid', 'now'], (p) =>
      db
        .updateTable('login_tickets')
        .set({ consumed_at: p.now })
        .where('kind', '=', CODE_KIND)
        .where('connection', '=', p.connection)
        .where('email_normalized', '=', p.email)
        .where('interaction_uid', '=', p.uid)
        .where('consumed_at', 'is', null),
    ),
    // Housekeeping on the same index: this email's codes that expired a day ago or more.
    deleteStale: prepareQuery(['connection', 'email', 'before'], (p) =>
      db
        .deleteFrom('login_tickets')
        .where('kind', '=', CODE_KIND)
        .where('connection', '=', p.connection)
        .where('email_normalized', '=', p.email)
        .where('expires_at', '<', p.before),
    ),
    insert: prepareQuery(['id', 'connection', 'email', 'uid', 'expires_at', 'created_at'], (p) =>
      db.insertInto('login_tickets').values({
        id: p.id,
        kind: CODE_KIND,
        connection: p.connection,
        email_normalized: p.email,
        identity: null,
        interaction_uid: p.uid,
        attempts: 0,
        expires_at: p.expires_at,
        consumed_at: null,
        created_at: p.created_at,
      }),
    ),
    live: prepareQuery(['connection', 'email', 'uid'], (p) =>
      db
        .selectFrom('login_tickets')
        .select(['id', 'attempts', 'expires_at'])
        .where('kind', '=', CODE_KIND)
        .where('connection', '=', p.connection)
        .where('email_normalized', '=', p.email)
        .where('interaction_uid', '=', p.uid)
        .where('consumed_at', 'is', null)
        .orderBy('created_at', 'desc')
        .limit(sql.lit(1)),
    ),
    countGuess: prepareQuery(['id', 'max', 'now'], (p) =>
      db
        .updateTable('login_tickets')
        .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .where('id', '=', p.id)
        .where('consumed_at', 'is', null)
        .where('attempts', '<', p.max)
        .where('expires_at', '>', p.now)
        .returning('attempts'),
    ),
    consume: prepareQuery(['id', 'now'], (p) =>
      db.updateTable('login_tickets').set({ consumed_at: p.now }).where('id', '=', p.id).where('consumed_at', 'is', null),
    ),
  };
}

export class LoginTickets {
  private readonly db: Kysely<Schema>;
  readonly #codes: ReturnType<typeof codeQueries>;

  /** The codes' writes join the database's shared commit (Database.write, Database.transact). */
  constructor(private readonly database: Database) {
    this.db = database.db;
    this.#codes = codeQueries(database.db);
  }

  // ---------------------------------------------------------------- mailed links

  /** A new link secret for an identity (`provider|user_id`); only its hash is stored. */
  async issueLink(ticket: { kind: LinkKind; connection: string; email: string; identity: string; ttlSeconds: number }): Promise<string> {
    const secret = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('login_tickets')
      .values({
        id: sha256(secret),
        kind: ticket.kind,
        connection: ticket.connection,
        email_normalized: normalizeEmail(ticket.email),
        identity: ticket.identity,
        interaction_uid: null,
        attempts: 0,
        expires_at: epochSeconds() + ticket.ttlSeconds,
        consumed_at: null,
        created_at: new Date().toISOString(),
      })
      .execute();
    return secret;
  }

  /** The live ticket a link's secret names; anything that is not a plausible secret is invalid. */
  async findLink(kind: LinkKind, secret: unknown): Promise<LinkState> {
    if (typeof secret !== 'string' || secret.length < 20 || secret.length > 200) return { status: 'invalid' };
    const ticket = await this.db.selectFrom('login_tickets').selectAll().where('id', '=', sha256(secret)).where('kind', '=', kind).executeTakeFirst();
    if (!ticket || ticket.consumed_at !== null) return { status: 'invalid' };
    if (Number(ticket.expires_at) <= epochSeconds()) return { status: 'expired' };
    return { status: 'valid', ticket };
  }

  /** Consumes a link's ticket; false when another request consumed it first or it just expired. */
  async consumeLink(id: string): Promise<boolean> {
    const now = epochSeconds();
    const result = await this.db
      .updateTable('login_tickets')
      .set({ consumed_at: now })
      .where('id', '=', id)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Consumes every live link of this kind for an identity (the other reset links, once a password is set). */
  async consumeLinksOf(kind: LinkKind, identity: string | null): Promise<void> {
    await this.db
      .updateTable('login_tickets')
      .set({ consumed_at: epochSeconds() })
      .where('kind', '=', kind)
      .where('identity', '=', identity)
      .where('consumed_at', 'is', null)
      .execute();
  }

  // ---------------------------------------------------------------- mailed codes

  /** Issues a new 6-digit code; earlier codes for this email in this interaction stop working. */
  async issueCode(connection: string, uid: string, email: string, ttlSeconds: number): Promise<string> {
    const emailNormalized = normalizeEmail(email);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const now = epochSeconds();
    const q = this.#codes;
    await this.database.transact(async (trx) => {
      await executeNow(this.database, trx, q.retireEarlier({ connection, email: emailNormalized, uid, now }));
      await executeNow(this.database, trx, q.deleteStale({ connection, email: emailNormalized, before: now - 86_400 }));
      await executeNow(
        this.database,
        trx,
        q.insert({
          id: codeHash(connection, uid, emailNormalized, code),
          connection,
          email: emailNormalized,
          uid,
          expires_at: now + ttlSeconds,
          created_at: new Date().toISOString(),
        }),
      );
    });
    return code;
  }

  /**
   * Checks a guess against the live code for this email and interaction. Every guess is
   * counted before it is compared (atomically, so parallel guesses cannot exceed the limit),
   * and a right guess consumes the code in a conditional update (so it works once).
   */
  async checkCode(connection: string, uid: string, email: string, code: string, maxAttempts: number): Promise<CodeCheck> {
    const emailNormalized = normalizeEmail(email);
    const q = this.#codes;
    const ticket = (await this.database.reader.executeQuery(q.live({ connection, email: emailNormalized, uid }))).rows[0];
    if (!ticket) return { ok: false, reason: 'missing' };
    const now = epochSeconds();
    if (Number(ticket.expires_at) <= now) return { ok: false, reason: 'expired' };
    if (Number(ticket.attempts) >= maxAttempts) return { ok: false, reason: 'exhausted' };

    // The count and, for a right guess, the consumption are one unit of work: on SQLite one
    // savepoint of the group commit (a sign-in waits for one commit, not two in a row), on
    // PostgreSQL one transaction. The guess is still counted before it is compared.
    return this.database.transact(async (trx): Promise<CodeCheck> => {
      const counted = (await executeNow(this.database, trx, q.countGuess({ id: ticket.id, max: maxAttempts, now }))).rows[0];
      if (!counted) return { ok: false, reason: 'exhausted' };
      const expected = Buffer.from(ticket.id, 'hex');
      const actual = Buffer.from(codeHash(connection, uid, emailNormalized, code), 'hex');
      if (!timingSafeEqual(actual, expected)) {
        const triesLeft = maxAttempts - Number(counted.attempts);
        return triesLeft > 0 ? { ok: false, reason: 'wrong', triesLeft } : { ok: false, reason: 'exhausted' };
      }
      const consumed = await executeNow(this.database, trx, q.consume({ id: ticket.id, now }));
      return Number(consumed.numAffectedRows) === 1 ? { ok: true } : { ok: false, reason: 'missing' };
    });
  }
}
