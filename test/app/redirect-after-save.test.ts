import assert from 'node:assert/strict';
import { get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import session from 'express-session';
import { redirectAfterSave } from '../../src/app/web/redirect.ts';

/** A store whose writes take a while, as a remote database's can. */
class SlowStore extends session.MemoryStore {
  writesDone = 0;
  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    setTimeout(
      () =>
        super.set(sid, data, (err?: unknown) => {
          this.writesDone++;
          callback?.(err);
        }),
      150,
    );
  }
}

/** The status and what the store had finished when the response's headers arrived. */
function headersOf(url: string, store: SlowStore): Promise<{ status: number; writesDoneAtHeaders: number }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      resolve({ status: res.statusCode ?? 0, writesDoneAtHeaders: store.writesDone });
      res.resume();
    }).once('error', reject);
  });
}

describe('redirectAfterSave', () => {
  const store = new SlowStore();
  let server: Server;
  let base: string;
  before(async () => {
    const app = express();
    app.use(session({ secret: 'x'.repeat(32), store, resave: false, saveUninitialized: false }));
    app.get('/plain', (req, res) => {
      req.session.flash = { kind: 'info', text: 'a' };
      res.redirect(303, '/next');
    });
    app.get('/saved', (req, res, next) => {
      req.session.flash = { kind: 'info', text: 'b' };
      redirectAfterSave(req, res, next, '/next');
    });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('express-session alone sends a redirect before its save lands (the race this helper closes)', async () => {
    const before = store.writesDone;
    const res = await headersOf(`${base}/plain`, store);
    assert.equal(res.status, 303);
    assert.equal(res.writesDoneAtHeaders, before, 'headers arrived while the session was still being written');
    while (store.writesDone === before) await new Promise((r) => setTimeout(r, 20));
  });

  it('sends the redirect only once the session is stored', async () => {
    const before = store.writesDone;
    const res = await headersOf(`${base}/saved`, store);
    assert.equal(res.status, 303);
    assert.equal(res.writesDoneAtHeaders, before + 1, 'the write finished before the browser could follow the redirect');
  });
});
