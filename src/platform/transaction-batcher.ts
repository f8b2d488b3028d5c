import { CompiledQuery, type Kysely, type QueryResult, type Transaction } from 'kysely';

interface Pending<S> {
  work: (trx: Transaction<S>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const SAVEPOINT = CompiledQuery.raw('savepoint accord_work');
const RELEASE = CompiledQuery.raw('release accord_work');
const ROLLBACK_TO = CompiledQuery.raw('rollback to accord_work');

/**
 * Group commit for SQLite, whose one connection runs one transaction at a time anyway: units
 * of work that queue while a transaction runs are run together in the next one, each inside
 * its own savepoint, and the whole group commits once. A commit writes every page the
 * transaction changed to the WAL, and pages such as the audit trail's last one are shared by
 * the whole group: a commit per unit cost more than the unit's statements.
 *
 * Each unit sees exactly what running the units one after another would show it. A unit that
 * throws is rolled back to its savepoint alone and its caller gets the error; the others go
 * on. Nobody hears of success before the commit: if the commit (or a rollback) fails, every
 * unit of the group fails with that error and nothing of the group is stored.
 */
export class TransactionBatcher<S> {
  #queue: Pending<S>[] = [];
  #running = false;

  readonly #db: Kysely<S>;
  readonly #maxBatch: number;
  /** Runs a statement of the open transaction at once (Database.runNow): the savepoints then cost no promises. */
  readonly #runNow: ((query: CompiledQuery) => QueryResult<unknown>) | undefined;

  constructor(db: Kysely<S>, options: { maxBatch?: number; runNow?: (query: CompiledQuery) => QueryResult<unknown> } = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 64;
    this.#runNow = options.runNow;
  }

  run<T>(work: (trx: Transaction<S>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#running) return;
      this.#running = true;
      // better-sqlite3 answers synchronously, so a transaction never yields to I/O: started at
      // once, it would run alone. Starting it after the poll phase lets the requests already
      // received queue their work first.
      setImmediate(() => {
        void this.#drain();
      });
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      await this.#runBatch(batch);
    }
    this.#running = false;
  }

  async #runBatch(batch: Pending<S>[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        const run = this.#runNow ?? ((query: CompiledQuery) => trx.executeQuery(query));
        for (const unit of batch) {
          await run(SAVEPOINT);
          try {
            outcomes.push({ ok: true, value: await unit.work(trx) });
          } catch (error) {
            outcomes.push({ ok: false, error });
            await run(ROLLBACK_TO);
          }
          await run(RELEASE);
        }
      });
    } catch (err) {
      for (const unit of batch) unit.reject(err);
      return;
    }
    batch.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }
}
