import type { IncomingMessage, ServerResponse } from 'node:http';

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
type HeaderOp = readonly ['set', string, string | number | readonly string[]] | readonly ['remove', string];

/**
 * A middleware whose headers depend on nothing in the request (helmet configured with fixed
 * values: no nonces, no functions), run once at start-up and replayed on every request. Helmet
 * runs a dozen middlewares a request and serialises its Content-Security-Policy each time.
 * Throws if the middleware does anything but set and remove headers and call `next()` at once.
 */
export function replayHeaders(middleware: Middleware): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  const ops: HeaderOp[] = [];
  let done = false;
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      ops.push(['set', name, value]);
      return recorder;
    },
    removeHeader(name: string) {
      ops.push(['remove', name]);
    },
  };
  middleware({ method: 'GET', url: '/', headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (err) => {
    if (err) throw err;
    done = true;
  });
  if (!done) throw new Error('replayHeaders: the middleware did not call next() at once');
  return (_req, res, next) => {
    for (const op of ops) {
      if (op[0] === 'set') res.setHeader(op[1], op[2]);
      else res.removeHeader(op[1]);
    }
    next();
  };
}
