import type { WindowCount } from './rate-limit-counters.ts';

/** What a limiter answers for one request. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests left in the window after this one. */
  remaining: number;
  /** When the window ends (epoch ms). */
  resetAt: number;
}

/** A fixed-window limit per key; the answer comes at once when it can, as a promise when it must wait. */
export interface WindowLimiter {
  readonly limit: number;
  hit(key: string): RateLimitDecision | Promise<RateLimitDecision>;
}

/**
 * A fixed-window counter per key, in this process. express-rate-limit costs tens of
 * microseconds per request (async store calls, header formatting, validation); on the
 * Management API's hot path a synchronous Map lookup does the same job.
 */
export class FixedWindowLimiter implements WindowLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();
  #sweepAt = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts a request for `key`; `allowed` is false once the window's limit is passed. */
  hit(key: string, now = Date.now()): RateLimitDecision {
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

/** Where a SharedWindowLimiter keeps the count every process sees (RateLimitCounters). */
export interface SharedCounters {
  add(key: string, hits: number, windowMs: number): Promise<WindowCount>;
}

/** A key's shared count as this process last saw it, and the hits it admitted since. */
interface KeyView {
  /** The shared count when last seen. */
  hits: number;
  resetsAt: number;
  seenAt: number;
  /** Admitted here and not yet sent to the shared count. */
  pending: number;
  /** Sent to the shared count, not yet answered. */
  inFlight: number;
}

/** Pending hits are added to the shared count at most this long after the first of them. */
const FLUSH_AFTER_MS = 100;
/** A view older than this is looked at again before it decides anything. */
const VIEW_TTL_MS = 1_000;
/** Within this many requests of the limit (or a tenth of it, if more), every request is counted in the shared counter. */
const NEAR_MIN = 50;

/**
 * A fixed-window limit per key counted in a shared counter (a database row), so that N processes
 * together allow the limit, not N times it, without a round trip per request.
 *
 * Far from the limit, a process admits requests against its last view of the shared count plus
 * its own hits since, and adds those in batches (every nearZone/8 hits, or FLUSH_AFTER_MS after
 * the first), each answer refreshing the view. It goes to the shared counter for the request
 * itself, and decides on the total it answers, within nearZone of the limit (a tenth of it, at
 * least NEAR_MIN), when a quarter of the near zone is admitted here but not yet counted there, on a
 * key it has not looked at for VIEW_TTL_MS, and in a new window. So a process admits at most a
 * quarter of the near zone that the others cannot see yet: with up to five processes the limit is
 * exact, and beyond that a process can overshoot it by that quarter at most. Once the view says
 * the limit is reached, refusals cost nothing until the window ends.
 *
 * If the shared counter cannot be reached, each process goes on counting alone (as one process
 * would) and says so through `onError`: the limiter never turns a database outage into refusals.
 */
export class SharedWindowLimiter implements WindowLimiter {
  readonly #views = new Map<string, KeyView>();
  readonly #counters: SharedCounters;
  readonly #prefix: string;
  readonly #onError: (err: unknown) => void;
  readonly #nearZone: number;
  readonly #batch: number;
  readonly #unseenCap: number;
  #timer: NodeJS.Timeout | undefined;
  #sweepAt = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    options: { counters: SharedCounters; name: string; onError: (err: unknown) => void },
  ) {
    this.#counters = options.counters;
    this.#prefix = `${options.name}:`;
    this.#onError = options.onError;
    this.#nearZone = Math.max(NEAR_MIN, Math.ceil(limit / 10));
    this.#batch = Math.max(1, Math.floor(this.#nearZone / 8));
    this.#unseenCap = 2 * this.#batch;
  }

  hit(key: string): RateLimitDecision | Promise<RateLimitDecision> {
    const now = Date.now();
    if (now >= this.#sweepAt) this.#sweep(now);
    const view = this.#views.get(key);
    if (!view || now >= view.resetsAt || now - view.seenAt > VIEW_TTL_MS) return this.#countShared(key, now);
    const unseen = view.pending + view.inFlight;
    const used = view.hits + unseen;
    if (used >= this.limit) return { allowed: false, remaining: 0, resetAt: view.resetsAt };
    if (this.limit - used - 1 < this.#nearZone || unseen >= this.#unseenCap) return this.#countShared(key, now);
    view.pending++;
    if (view.pending >= this.#batch) void this.#flush(key, view, now);
    else this.#timer ??= setTimeout(() => this.#flushAll(), FLUSH_AFTER_MS).unref();
    return { allowed: true, remaining: this.limit - used - 1, resetAt: view.resetsAt };
  }

  /** Adds what is still pending to the shared counts (before the database closes). */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = Date.now();
    await Promise.all([...this.#views].map(([key, view]) => this.#flush(key, view, now)));
  }

  /** This request and the hits pending for `key`, added to the shared count; the answer follows from its total. */
  async #countShared(key: string, now: number): Promise<RateLimitDecision> {
    let view = this.#views.get(key);
    const pending = view && now < view.resetsAt ? view.pending : 0;
    if (view) view.pending = 0;
    try {
      const count = await this.#counters.add(this.#prefix + key, pending + 1, this.windowMs);
      this.#see(key, count);
      return { allowed: count.hits <= this.limit, remaining: Math.max(0, this.limit - count.hits), resetAt: count.resetsAt };
    } catch (err) {
      this.#onError(err);
      // Counted here alone until the shared counter answers again; seenAt stays old, so the next request asks it.
      view = this.#views.get(key);
      if (!view || Date.now() >= view.resetsAt) {
        view = { hits: 0, resetsAt: now + this.windowMs, seenAt: 0, pending: 0, inFlight: 0 };
        this.#views.set(key, view);
      }
      view.pending += pending + 1;
      const used = view.hits + view.pending + view.inFlight;
      return { allowed: used <= this.limit, remaining: Math.max(0, this.limit - used), resetAt: view.resetsAt };
    }
  }

  /** Takes a shared count into the view of `key`: a later window replaces it, the same window only raises it. */
  #see(key: string, count: WindowCount): void {
    const view = this.#views.get(key);
    if (!view) {
      this.#views.set(key, { hits: count.hits, resetsAt: count.resetsAt, seenAt: Date.now(), pending: 0, inFlight: 0 });
      return;
    }
    if (count.resetsAt > view.resetsAt) {
      view.hits = count.hits;
      view.resetsAt = count.resetsAt;
      // Hits admitted in a window that has ended count for nothing in the next one.
      view.pending = 0;
    } else if (count.resetsAt === view.resetsAt) {
      view.hits = Math.max(view.hits, count.hits);
    } else {
      return;
    }
    view.seenAt = Date.now();
  }

  #flush(key: string, view: KeyView, now: number): Promise<void> {
    const hits = view.pending;
    if (hits === 0) return Promise.resolve();
    view.pending = 0;
    if (now >= view.resetsAt) return Promise.resolve();
    const windowEnd = view.resetsAt;
    view.inFlight += hits;
    return this.#counters.add(this.#prefix + key, hits, this.windowMs).then(
      (count) => {
        view.inFlight -= hits;
        this.#see(key, count);
      },
      (err: unknown) => {
        view.inFlight -= hits;
        this.#onError(err);
        if (view.resetsAt === windowEnd) view.pending += hits;
      },
    );
  }

  #flushAll(): void {
    this.#timer = undefined;
    const now = Date.now();
    for (const [key, view] of this.#views) void this.#flush(key, view, now);
  }

  /** Views of ended windows are dropped once per window, so keys seen once do not accumulate. */
  #sweep(now: number): void {
    for (const [key, view] of this.#views) if (now >= view.resetsAt && view.pending === 0 && view.inFlight === 0) this.#views.delete(key);
    this.#sweepAt = now + this.windowMs;
  }
}
