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
 *
 * An expiry remembered TOUCH_GRANULARITY_MS ago or more can no longer skip a touch (a rolling
 * session's next expiry is at least that much later), so it is forgotten as others are
 * remembered: the throttle holds the sessions of the last minute, not every session up to
 * its bound.
 */
export class TouchThrottle {
  /** By sid, in the order their expiries were told: the store's expiry, and when it was told. */
  readonly #known = new Map<string, { expiresAt: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** How many sessions are remembered now. */
  get size(): number {
    return this.#known.size;
  }

  /** Whether a touch that would set `sid`'s expiry to `expiresAt` can be skipped. */
  skips(sid: string, expiresAt: number): boolean {
    const known = this.#known.get(sid);
    return known !== undefined && expiresAt - known.expiresAt < TOUCH_GRANULARITY_MS;
  }

  /**
   * The expiry `sid` now has in the store; undefined when it has none (destroyed). An unchanged
   * expiry leaves its entry as it was: every read of a session tells its expiry again, the same
   * between touches, and a Map that deletes and re-adds one key on every request keeps each
   * deleted entry in that key's hash chain until it next rehashes, so a lookup walks them all
   * (with thousands of sessions, more than the rest of the store's read). The entry is then
   * forgotten a minute after its expiry was first told: written no later than that, it can skip
   * no touch by then.
   */
  remember(sid: string, expiresAt: number | undefined): void {
    const unchanged = expiresAt !== undefined && this.#known.get(sid)?.expiresAt === expiresAt;
    if (!unchanged) this.#known.delete(sid);
    const now = this.now();
    for (const [oldSid, old] of this.#known) {
      if (now - old.at < TOUCH_GRANULARITY_MS && this.#known.size < KNOWN_EXPIRY_MAX) break;
      this.#known.delete(oldSid);
    }
    if (!unchanged && expiresAt !== undefined) this.#known.set(sid, { expiresAt, at: now });
  }

  clear(): void {
    this.#known.clear();
  }
}
