/**
 * A fixed-window counter per key, in this process. express-rate-limit costs tens of
 * microseconds per request (async store calls, header formatting, validation); on the
 * Management API's hot path a synchronous Map lookup does the same job.
 */
export class FixedWindowLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();
  #sweepAt = 0;

  constructor(readonly limit: number, readonly windowMs: number) {}

  /** Counts a request for `key`; `allowed` is false once the window's limit is passed. */
  hit(key: string, now = Date.now()): { allowed: boolean; remaining: number; resetAt: number } {
    const window = this.#current(key, now);
    window.count++;
    return { allowed: window.count <= this.limit, remaining: Math.max(0, this.limit - window.count), resetAt: window.start + this.windowMs };
  }

  /** Whether `key` has used up its window, without counting. */
  exhausted(key: string, now = Date.now()): boolean {
    const window = this.#windows.get(key);
    return window !== undefined && now - window.start < this.windowMs && window.count >= this.limit;
  }

  #current(key: string, now: number) {
    if (now >= this.#sweepAt) this.#sweep(now);
    let window = this.#windows.get(key);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0 };
      this.#windows.set(key, window);
    }
    return window;
  }

  /** Ended windows are dropped once per window, so keys seen once do not accumulate. */
  #sweep(now: number): void {
    for (const [key, window] of this.#windows) if (now - window.start >= this.windowMs) this.#windows.delete(key);
    this.#sweepAt = now + this.windowMs;
  }
}
