import type { AsyncLocalStorage } from 'node:async_hooks';
import requestContext from 'oidc-provider/lib/helpers/als.js';

/**
 * oidc-provider runs each request inside an AsyncLocalStorage, read only by `Provider.ctx` and
 * by its client ID metadata documents (a feature the tenant does not enable). On Node 20, once
 * such a storage has run, every promise of the process pays a hook that propagates it (a sixth of
 * the CPU of a link + unlink cycle, 2–3% of a sign-in's: docs/performance.md), even while only
 * other requests are in flight. Nothing in Accord reads `Provider.ctx`, so the storage is never
 * entered: its `run` calls the request's handler directly. Process-wide, as the storage is.
 */
export function storeNoRequestContext(context: AsyncLocalStorage<unknown> = requestContext): void {
  context.run = <R, A extends unknown[]>(_store: unknown, callback: (...args: A) => R, ...args: A): R => callback(...args);
}
