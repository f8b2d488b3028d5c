/** Bounds the read cache; the oldest entries go first. */
const READ_CACHE_MAX = 10_000;

/**
 * The Management API client's read cache: a read is reused for `ttlMs` unless its caller asks
 * for a fresh one, and any write forgets every read. A ttl of 0 caches nothing. Callers share
 * cached results: they must treat them as read-only.
 */
export class ReadCache {
  readonly #ttlMs: number;
  readonly #reads = new Map<string, { at: number; generation: number; value: Promise<unknown> }>();
  /** Bumped at the start and end of every write, so a read that overlapped a write is never reused. */
  #generation = 0;

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  read<T>(key: string, fresh: boolean | undefined, load: () => Promise<T>): Promise<T> {
    if (this.#ttlMs === 0) return load();
    const now = Date.now();
    const hit = this.#reads.get(key);
    // A fresh read also replaces the cached one: the pages after it show what it saw.
    if (!fresh && hit && hit.generation === this.#generation && now - hit.at < this.#ttlMs) return hit.value as Promise<T>;
    const value = load();
    this.#reads.delete(key);
    this.#reads.set(key, { at: now, generation: this.#generation, value });
    if (this.#reads.size > READ_CACHE_MAX) this.#reads.delete(this.#reads.keys().next().value!);
    // A failure is not remembered: the next caller tries again.
    value.catch(() => {
      if (this.#reads.get(key)?.value === value) this.#reads.delete(key);
    });
    return value;
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
