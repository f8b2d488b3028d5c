import type { Database } from '../tenant-database.ts';
import type { Logger } from '../../platform/logger.ts';
import { epochSeconds } from '../../platform/time.ts';

/**
 * Deletes the OpenID Provider's expired state (sessions, grants, codes, tokens, interactions):
 * the adapter already treats it as gone, and without this the table grew with every sign-in.
 * Runs at start and then every `intervalMs`; a slow run never piles up behind the next.
 */
export class OidcPayloadPruner {
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    void this.#prunePeriodically();
    this.#timer = setInterval(() => {
      void this.#prunePeriodically();
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Deletes what expired; returns how many rows. */
  async prune(): Promise<number> {
    const { db } = this.database;
    const result = await this.database.write(db.deleteFrom('oidc_payloads').where('expires_at', '<=', epochSeconds()).compile());
    return Number(result.numAffectedRows ?? 0);
  }

  async #prunePeriodically(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const deleted = await this.prune();
      if (deleted > 0) this.logger.debug({ event: 'oidc_payloads_pruned', deleted }, 'expired OpenID Provider state deleted');
    } catch (err) {
      this.logger.warn({ event: 'oidc_payloads_prune_failed', err }, 'could not delete expired OpenID Provider state');
    } finally {
      this.#running = false;
    }
  }
}
