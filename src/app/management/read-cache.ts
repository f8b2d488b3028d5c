/** Bounds the read cache; the oldest entries go first. */
const READ_CACHE_MAX = 10_000;

/**
 * The Management API client's read cache: a read is reused for `ttlMs` unless its caller asks
 * for a fresh one, and any write forgets every read. A ttl of 0 caches nothing. Callers share
 * cached results: they must treat them as read-only.
 */
export class ReadCache {
  readonly #ttlMs: number;
  readonly #reads = new Map<string, { at: number; generation: number; value: Promise<unknown>; arrived?: { value: unknown } }>();
  /** Bumped at the start and end of every write, so a read that overlapped a write is never reused. */
  #generation = 0;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  /** How many reads are kept now. */
  get size(): number {
    return this.#reads.size;
  }

  read<T>(key: string, fresh: boolean | undefined, load: () => Promise<T>): Promise<T> {
    if (this.#ttlMs === 0) return load();
    const now = Date.now();
    const hit = this.#reads.get(key);
    // A fresh read also replaces the cached one: the pages after it show what it saw.
    if (!fresh && hit && hit.generation === this.#generation && now - hit.at < this.#ttlMs) return hit.value as Promise<T>;
    const value = load();
    const entry: { at: number; generation: number; value: Promise<unknown>; arrived?: { value: unknown } } = { at: now, generation: this.#generation, value };
    this.#reads.delete(key);
    this.#reads.set(key, entry);
    // Oldest first: reads past their ttl are never handed out again, so they go now rather than
    // stay until the bound pushes them out (a busy app would otherwise hold the bound's worth).
    for (const [oldKey, old] of this.#reads) {
      if (now - old.at < this.#ttlMs && this.#reads.size <= READ_CACHE_MAX) break;
      this.#reads.delete(oldKey);
    }
    value.then(
      (arrived) => {
        entry.arrived = { value: arrived };
      },
      // A failure is not remembered: the next caller tries again.
      () => {
        if (this.#reads.get(key) === entry) this.#reads.delete(key);
      },
    );
    return value;
  }

  /**
   * What `read(key)` would hand out now, when it has arrived: the value itself, with no promise to
   * wait for (a page whose reads are all cached answers at once). Undefined when `read` would
   * load, or would hand out a read still under way.
   */
  peek<T>(key: string): T | undefined {
    if (this.#ttlMs === 0) return undefined;
    const hit = this.#reads.get(key);
    if (hit?.arrived && hit.generation === this.#generation && Date.now() - hit.at < this.#ttlMs) return hit.arrived.value as T;
    return undefined;
  }

  async write<T>(run: () => Promise<T>): Promise<T> {
    this.#generation++;
    this.#reads.clear();
    try {
      return await run();
    } finally {
      this.#generation++;
      this.#reads.clear();
    }
  }
}
