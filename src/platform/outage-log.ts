import type { Logger } from './logger.ts';

const SAME_OUTAGE_MS = 5_000;

/**
 * Logs a dependency going away once and coming back once, however many requests, reconnects
 * and pool errors fail in between: an outage of a minute under load is two lines, not
 * thousands. Failures within a few seconds of it coming back belong to the same outage.
 */
export class OutageLog {
  #down = false;
  /** When it last came back: failures soon after are the same outage's tail, not a new one. */
  #backAt = -Infinity;
  #announced = false;
  readonly #logger: Logger | undefined;
  readonly #dependency: string;

  constructor(logger: Logger | undefined, dependency: string) {
    this.#logger = logger;
    this.#dependency = dependency;
  }

  get down(): boolean {
    return this.#down;
  }

  failed(err: unknown): void {
    if (this.#down) return;
    this.#down = true;
    // A restart drops each pooled connection on its own, some after new ones already succeeded.
    if (performance.now() - this.#backAt < SAME_OUTAGE_MS) return;
    this.#announced = true;
    this.#logger?.error({ event: 'dependency_unreachable', dependency: this.#dependency, reason: reasonOf(err) }, `${this.#dependency} unreachable`);
  }

  succeeded(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#backAt = performance.now();
    if (!this.#announced) return;
    this.#announced = false;
    this.#logger?.info({ event: 'dependency_back', dependency: this.#dependency }, `${this.#dependency} back`);
  }
}

/** The error's code and message only: a connection error's stack says nothing an operator needs. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
}
