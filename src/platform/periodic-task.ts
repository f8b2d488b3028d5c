/**
 * Background work every `intervalMs` (deleting what has expired). A slow run never piles up
 * behind the next tick, and stop() waits for a run under way: once its owner has stopped it,
 * nothing more is written, so the database can be closed (or a row inserted) without a run
 * started earlier landing after it. `run` handles its own failures (it logs them; the next tick
 * tries again); one that escapes is dropped, as a timer's would be.
 */
export class PeriodicTask {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** Starts the ticks (and, with `now`, a first run at once). The timer does not keep the process alive. */
  start(options: { now?: boolean } = {}): void {
    if (options.now) this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
  }

  /** Stops the ticks and resolves once no run is under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
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
