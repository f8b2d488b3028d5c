/** How long stop() waits for a run under way: a run stuck on its dependency must not hang a shutdown. */
const STOP_WAIT_MS = 5_000;

/**
 * Background work every `intervalMs` (deleting what has expired). A slow run never piles up
 * behind the next tick, and stop() waits for a run under way (up to STOP_WAIT_MS): once its owner
 * has stopped it, nothing more is written, so the database can be closed (or a row inserted)
 * without a run started earlier landing after it. `run` handles its own failures (it logs them;
 * the next tick tries again); one that escapes is dropped, as a timer's would be.
 */
export class PeriodicTask {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly stopWaitMs = STOP_WAIT_MS,
  ) {}

  /** Starts the ticks (and, with `now`, a first run at once). The timer does not keep the process alive. */
  start(options: { now?: boolean } = {}): void {
    if (options.now) this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  /** Stops the ticks and resolves once no run is under way, or after stopWaitMs if one still is. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    let gaveUp: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#running,
      new Promise<void>((resolve) => {
        gaveUp = setTimeout(resolve, this.stopWaitMs);
      }),
    ]);
    clearTimeout(gaveUp);
  }

  #tick(): void {
    if (this.#running || this.#stopped) return;
    this.#running = this.run()
      .catch(() => {})
      .finally(() => {
        this.#running = undefined;
      });
  }
}
