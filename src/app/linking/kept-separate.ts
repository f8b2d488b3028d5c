import type { CompiledQuery, Kysely } from 'kysely';
import { prepareQuery } from '../../platform/prepared-query.ts';
import type { AppSchema } from '../app-database.ts';

type KeptRow = { candidate_id: string; created_at: string };

/** The candidate accounts a user chose to keep separate: they are not suggested for linking again. */
export class KeptSeparate {
  readonly #db: Kysely<AppSchema>;
  /** Read on every profile page and suggestion check, so compiled once rather than by Kysely per call. */
  readonly #listQuery: (values: { userId: string }) => CompiledQuery<KeptRow>;

  constructor(db: Kysely<AppSchema>) {
    this.#db = db;
    this.#listQuery = prepareQuery(['userId'], (p) =>
      db.selectFrom('app_kept_separate').select(['candidate_id', 'created_at']).where('user_id', '=', p.userId).orderBy('created_at').orderBy('candidate_id'),
    );
  }

  /** Idempotent: keeping the same candidate again keeps the first choice's date. */
  async keep(userId: string, candidateId: string): Promise<void> {
    await this.#db
      .insertInto('app_kept_separate')
      .values({ user_id: userId, candidate_id: candidateId, created_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['user_id', 'candidate_id']).doNothing())
      .execute();
  }

  async undo(userId: string, candidateId: string): Promise<void> {
    await this.#db.deleteFrom('app_kept_separate').where('user_id', '=', userId).where('candidate_id', '=', candidateId).execute();
  }

  /** Oldest first, so a profile page lists choices in the order they were made. */
  async list(userId: string): Promise<KeptRow[]> {
    return (await this.#db.executeQuery(this.#listQuery({ userId }))).rows;
  }

  async candidatesKeptBy(userId: string): Promise<Set<string>> {
    return new Set((await this.list(userId)).map((r) => r.candidate_id));
  }
}
