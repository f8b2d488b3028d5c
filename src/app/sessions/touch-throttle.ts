/** Touches that would move a session's expiry by less than this are skipped. */
const TOUCH_GRANULARITY_MS = 60_000;
const KNOWN_EXPIRY_MAX = 50_000;

/**
 * The expiry each recently read or written session has in its store. express-session touches
 * the session on every request of a rolling session; moving an expiry by a few seconds is not
 * worth a write (the session then lives up to TOUCH_GRANULARITY_MS less). A store answers a
 * touch it skips at once, not on a later tick: express-session sends a page whose touch it
 * waits for in two writes (all but the last byte, then the rest), two syscalls and two
 * packets a page.
 */
export class TouchThrottle {
  readonly #known = new Map<string, number>();

  /** Whether a touch that would set `sid`'s expiry to `expiresAt` can be skipped. */
  skips(sid: string, expiresAt: number): boolean {
    const known = this.#known.get(sid);
    return known !== undefined && expiresAt - known < TOUCH_GRANULARITY_MS;
  }

  /**
   * The expiry `sid` now has in the store; undefined when it has none (destroyed). Only a change
   * moves the entry to the end: every read of a session tells its expiry again, unchanged between
   * touches, and a Map that deletes and re-adds one key on every request keeps each deleted entry
   * in that key's hash chain until it next rehashes, so a lookup walks them all (with thousands of
   * sessions, more than the rest of the store's read). The entry changed longest ago goes first:
   * one known for longer than TOUCH_GRANULARITY_MS skips no touch anyway.
   */
  remember(sid: string, expiresAt: number | undefined): void {
    if (expiresAt !== undefined && this.#known.get(sid) === expiresAt) return;
    this.#known.delete(sid);
    if (expiresAt === undefined) return;
    this.#known.set(sid, expiresAt);
    if (this.#known.size > KNOWN_EXPIRY_MAX) this.#known.delete(this.#known.keys().next().value!);
  }

  clear(): void {
    this.#known.clear();
  }
}
