import type { IncomingMessage, ServerResponse } from 'node:http';
import requestContext from 'oidc-provider/lib/helpers/als.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** What is switched off while idle: oidc-provider's AsyncLocalStorage, or a stand-in in tests. */
export interface PausableContext {
  disable(): void;
}

let inFlight = 0;

/**
 * oidc-provider keeps each request's context in an AsyncLocalStorage. On Node 20, once that
 * storage has run, every promise of the process pays a hook that propagates it: a large share
 * of the CPU of a link + unlink through the Management API (docs/performance.md), which never
 * reads it. So the storage is switched off whenever no OpenID Provider request is in flight,
 * and the next request's own `run()` switches it back on. Requests are counted across every provider of
 * the process (the tenant's and the demo IdP's share the one storage), from the call until
 * the handler's promise settles: Koa settles it once the response is written.
 */
export function pauseContextWhenIdle(handler: Handler, context: PausableContext = requestContext): Handler {
  return (req, res) => {
    inFlight += 1;
    const done = () => {
      inFlight -= 1;
      if (inFlight === 0) context.disable();
    };
    let pending: unknown;
    try {
      pending = handler(req, res);
    } catch (err) {
      done();
      throw err;
    }
    return Promise.resolve(pending).finally(done);
  };
}
