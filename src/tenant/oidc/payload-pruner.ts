import type { Database } from '../tenant-database.ts';
import type { Logger } from '../../platform/logger.ts';
import { PeriodicTask } from '../../platform/periodic-task.ts';
import { epochSeconds } from '../../platform/time.ts';

/**
 * Deletes the OpenID Provider's expired state (sessions, grants, codes, tokens, interactions):
 * the adapter already treats it as gone, and without this the table grew with every sign-in.
 * Runs at start and then every `intervalMs` (PeriodicTask).
 */
export class OidcPayloadPruner {
  #task: PeriodicTask | undefined;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    this.#task = new PeriodicTask(() => this.#prunePeriodically(), intervalMs);
    this.#task.start({ now: true });
  }

  /** Stops the timer and waits for a run under way, so the database can be closed after. */
  async stop(): Promise<void> {
    await this.#task?.stop();
  }

  /** Deletes what expired; returns how many rows. */
  async prune(): Promise<number> {
    const { db } = this.database;
    const result = await this.database.write(db.deleteFrom('oidc_payloads').where('expires_at', '<=', epochSeconds()).compile());
    return Number(result.numAffectedRows ?? 0);
  }

  async #prunePeriodically(): Promise<void> {
    try {
      const deleted = await this.prune();
      if (deleted > 0) this.logger.debug({ event: 'oidc_payloads_pruned', deleted }, 'expired OpenID Provider state deleted');
    } catch (err) {
      this.logger.warn({ event: 'oidc_payloads_prune_failed', err }, 'could not delete expired OpenID Provider state');
    }
  }
}
