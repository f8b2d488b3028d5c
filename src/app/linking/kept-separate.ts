import type { Kysely } from 'kysely';
import type { AppSchema } from '../app-database.ts';

/** The candidate accounts a user chose to keep separate: they are not suggested for linking again. */
export class KeptSeparate {
  readonly #db: Kysely<AppSchema>;

  constructor(db: Kysely<AppSchema>) {
    this.#db = db;
  }

  /** Idempotent: keeping the same candidate again keeps the first choice's date. */
  async keep(userId: string, candidateId: string): Promise<void> {
    await this.#db.insertInto('app_kept_separate')
      .values({ user_id: userId, candidate_id: candidateId, created_at: new Date().toISOString() })
      .onConflict((oc) => oc.columns(['user_id', 'candidate_id']).doNothing())
      .execute();
  }

  async undo(userId: string, candidateId: string): Promise<void> {
    await this.#db.deleteFrom('app_kept_separate')
      .where('user_id', '=', userId).where('candidate_id', '=', candidateId)
      .execute();
  }

  /** Oldest first, so a profile page lists choices in the order they were made. */
  async list(userId: string): Promise<{ candidate_id: string; created_at: string }[]> {
    return this.#db.selectFrom('app_kept_separate').select(['candidate_id', 'created_at'])
      .where('user_id', '=', userId)
      .orderBy('created_at').orderBy('candidate_id')
      .execute();
  }

  async candidatesKeptBy(userId: string): Promise<Set<string>> {
    const rows = await this.#db.selectFrom('app_kept_separate').select('candidate_id')
      .where('user_id', '=', userId).execute();
    return new Set(rows.map((r) => r.candidate_id));
  }
}
