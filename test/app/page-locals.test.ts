import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import express, { type Request } from 'express';
import { pageLocals, showFlashOnRender } from '../../src/app/web/page-locals.ts';

describe('pageLocals and showFlashOnRender', () => {
  const sessions = new Map<string, Record<string, unknown>>();
  let base = '';
  let close: () => void = () => {};
  const seen: Array<{ accessor: boolean; flashLeft: unknown }> = [];

  before(async () => {
    const views = mkdtempSync(join(tmpdir(), 'accord-page-locals-'));
    writeFileSync(join(views, 'page.txt'), '');
    const app = express();
    app.set('views', views);
    app.engine('txt', (_file, options, done) => done(null, JSON.stringify((options as { flash?: unknown }).flash ?? null)));
    app.set('view engine', 'txt');
    showFlashOnRender(app);
    app.use((req, _res, next) => {
      req.session = sessions.get(String(req.query.s)) as unknown as Request['session'];
      next();
    });
    // A page rendered before the locals (as an error in the session's checks would be).
    app.get('/early', (_req, res) => res.render('page'));
    app.use(pageLocals);
    app.get('/nothing', (req, res) => {
      seen.push({ accessor: Object.getOwnPropertyDescriptor(res.locals, 'flash')?.get !== undefined, flashLeft: req.session.flash });
      res.send('kept page');
    });
    app.get('/page', (_req, res) => res.render('page'));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { text: await res.text(), cacheControl: res.headers.get('cache-control') };
  };

  it('a page that renders nothing leaves the flash in the session, with no accessor on its locals', async () => {
    sessions.set('a', { flash: { kind: 'info', text: 'Hello' } });
    const kept = await get('/nothing?s=a');
    assert.equal(kept.text, 'kept page');
    assert.equal(kept.cacheControl, 'no-store');
    assert.deepEqual(seen.at(-1), { accessor: false, flashLeft: { kind: 'info', text: 'Hello' } });
    assert.equal((await get('/page?s=a')).text, '{"kind":"info","text":"Hello"}', 'the next page rendered shows it');
    assert.equal((await get('/page?s=a')).text, 'null', 'once');
    assert.deepEqual(sessions.get('a'), {});
  });

  it('a page rendered before the locals neither shows nor takes the flash', async () => {
    sessions.set('b', { flash: { kind: 'error', text: 'Oops' } });
    assert.equal((await get('/early?s=b')).text, 'null');
    assert.deepEqual(sessions.get('b'), { flash: { kind: 'error', text: 'Oops' } });
    assert.equal((await get('/page?s=b')).text, '{"kind":"error","text":"Oops"}');
  });
});
