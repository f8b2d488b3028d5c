import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  loadMergeStrategy,
  mergeStrategyByName,
  metadataChanges,
  primaryWins,
  secondaryWins,
  validateMergeResult,
  type MergeInput,
} from '../../src/app/linking/merge-strategies.ts';

function input(
  primaryUser: Record<string, unknown>,
  secondaryUser: Record<string, unknown>,
  primaryApp: Record<string, unknown> = {},
  secondaryApp: Record<string, unknown> = {},
): MergeInput {
  return {
    primary: { user_metadata: primaryUser, app_metadata: primaryApp },
    secondary: { user_metadata: secondaryUser, app_metadata: secondaryApp },
  };
}

describe('primaryWins', () => {
  it('keeps the primary value on conflicts and fills missing keys from the secondary', () => {
    // The example from the Auth0 linking doc, plus a key only the secondary has.
    const result = primaryWins(input({ color: 'red' }, { color: 'blue', size: 'L' }, { roles: ['Admin'] }, { roles: ['AppAdmin'] }));
    assert.deepEqual(result, { user_metadata: { color: 'red', size: 'L' }, app_metadata: { roles: ['Admin', 'AppAdmin'] } });
  });

  it('merges nested plain objects recursively', () => {
    const result = primaryWins(
      input(
        { prefs: { theme: 'dark', notifications: { email: true } } },
        { prefs: { theme: 'light', lang: 'fr', notifications: { email: false, sms: true } }, plan: { tier: 'pro' } },
      ),
    );
    assert.deepEqual(result.user_metadata, {
      prefs: { theme: 'dark', notifications: { email: true, sms: true }, lang: 'fr' },
      plan: { tier: 'pro' },
    });
    assert.deepEqual(Object.keys(result.user_metadata), ['prefs', 'plan']);
  });

  it('unions arrays of primitives without duplicates, primary items first', () => {
    const result = primaryWins(input({ tags: ['a', 'b', 1] }, { tags: ['b', 'c', 1, '1'] }));
    assert.deepEqual(result.user_metadata, { tags: ['a', 'b', 1, 'c', '1'] });
  });

  it('unions arrays of objects by deep structural equality (not index-wise like lodash)', () => {
    const result = primaryWins(input({ items: [{ a: 1 }] }, { items: [{ a: 1 }, { b: 2 }] }));
    assert.deepEqual(result.user_metadata, { items: [{ a: 1 }, { b: 2 }] });

    // Key order inside objects does not matter for equality; nested arrays are compared too.
    const nested = primaryWins(
      input({ items: [{ x: 1, y: [1, 2] }, { z: { deep: true } }] }, { items: [{ y: [1, 2], x: 1 }, { z: { deep: false } }, { x: 1, y: [2, 1] }] }),
    );
    assert.deepEqual(nested.user_metadata, {
      items: [{ x: 1, y: [1, 2] }, { z: { deep: true } }, { z: { deep: false } }, { x: 1, y: [2, 1] }],
    });
  });

  it('keeps the winner value when types differ', () => {
    const result = primaryWins(input({ a: ['x'], b: { k: 1 }, c: 'text', d: { k: 1 }, e: 5 }, { a: 'x', b: ['k'], c: { k: 2 }, d: 'str', e: [5] }));
    assert.deepEqual(result.user_metadata, { a: ['x'], b: { k: 1 }, c: 'text', d: { k: 1 }, e: 5 });
  });

  it('treats null as a present value', () => {
    const result = primaryWins(input({ a: null, b: { c: null } }, { a: 'filled', b: { c: { d: 1 }, e: null }, f: null }));
    assert.deepEqual(result.user_metadata, { a: null, b: { c: null, e: null }, f: null });

    // …and a primary object does not merge into a secondary null either.
    const reversed = primaryWins(input({ a: { x: 1 } }, { a: null }));
    assert.deepEqual(reversed.user_metadata, { a: { x: 1 } });
  });

  it('treats missing metadata as empty and drops undefined values', () => {
    const result = primaryWins({
      primary: { user_metadata: { a: undefined, b: 1 } } as never,
      secondary: { user_metadata: { a: 2 }, app_metadata: { roles: ['x'] } },
    });
    assert.deepEqual(result, { user_metadata: { a: 2, b: 1 }, app_metadata: { roles: ['x'] } });
    assert.equal(JSON.stringify(result), '{"user_metadata":{"b":1,"a":2},"app_metadata":{"roles":["x"]}}');
  });

  it('skips __proto__, constructor and prototype keys at every depth and leaves Object.prototype alone', () => {
    const evil = JSON.parse(
      '{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}, "prototype": 1, "nested": {"__proto__": {"polluted": "yes"}, "ok": 1}, "list": [{"__proto__": {"polluted": "yes"}, "v": 1}]}',
    );
    const result = primaryWins(input({ safe: true }, evil, {}, evil));
    const secondResult = secondaryWins(input(evil, { safe: true }));

    for (const metadata of [result.user_metadata, result.app_metadata, secondResult.user_metadata]) {
      assert.deepEqual(Object.keys(metadata).sort(), [...(metadata === result.app_metadata ? [] : ['safe']), 'list', 'nested'].sort());
      assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
      assert.equal(Object.prototype.hasOwnProperty.call(metadata, '__proto__'), false);
      assert.equal(Object.prototype.hasOwnProperty.call(metadata, 'constructor'), false);
      assert.equal(Object.prototype.hasOwnProperty.call(metadata, 'prototype'), false);
      assert.deepEqual(metadata.nested, { ok: 1 });
      assert.deepEqual(metadata.list, [{ v: 1 }]);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
    assert.equal(typeof {}.constructor, 'function');
  });

  it('never mutates its inputs and returns fresh objects', () => {
    const data = input(
      { prefs: { theme: 'dark' }, tags: ['a'] },
      { prefs: { lang: 'fr' }, tags: ['b'], extra: { deep: [1] } },
      { roles: ['Admin'] },
      { roles: ['AppAdmin'] },
    );
    const snapshot = structuredClone(data);
    const result = primaryWins(data);
    assert.deepEqual(data, snapshot);

    assert.notEqual(result.user_metadata, data.primary.user_metadata);
    assert.notEqual(result.user_metadata.prefs, data.primary.user_metadata.prefs);
    assert.notEqual(result.user_metadata.extra, data.secondary.user_metadata.extra);
    (result.user_metadata.tags as string[]).push('mutated');
    (result.user_metadata.extra as { deep: number[] }).deep.push(2);
    assert.deepEqual(data, snapshot);
  });

  it('copies values that exist on only one side (no shared references)', () => {
    const data = input({}, { only: { here: [1] } });
    const result = primaryWins(data);
    assert.deepEqual(result.user_metadata, { only: { here: [1] } });
    assert.notEqual(result.user_metadata.only, data.secondary.user_metadata.only);
  });

  it('rejects values that are not JSON', () => {
    assert.throws(() => primaryWins(input({ f: () => 1 }, {})), { name: 'TypeError', message: /primary\.user_metadata\.f is a function/ });
    assert.throws(() => primaryWins(input({}, { n: Number.NaN })), { message: /secondary\.user_metadata\.n is NaN/ });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => primaryWins(input(cyclic, {})), { message: /circular/ });
    assert.throws(() => primaryWins({ primary: { user_metadata: [] as never, app_metadata: {} }, secondary: { user_metadata: {}, app_metadata: {} } }), {
      message: /primary\.user_metadata must be a plain object, got an array/,
    });
  });
});

describe('secondaryWins', () => {
  it('keeps the secondary value on conflicts and still unions arrays (secondary items first)', () => {
    const result = secondaryWins(
      input(
        { color: 'red', prefs: { theme: 'dark', lang: 'en' }, tags: ['a', 'b'], only: 1, n: null },
        { color: 'blue', prefs: { theme: 'light' }, tags: ['c', 'a'], n: 'x' },
        { roles: ['Admin'] },
        { roles: ['AppAdmin'] },
      ),
    );
    assert.deepEqual(result, {
      user_metadata: { color: 'blue', prefs: { theme: 'light', lang: 'en' }, tags: ['c', 'a', 'b'], n: 'x', only: 1 },
      app_metadata: { roles: ['AppAdmin', 'Admin'] },
    });
  });

  it('keeps the secondary value when types differ, including null', () => {
    const result = secondaryWins(input({ a: ['x'], b: 'primary', c: { k: 1 } }, { a: { k: 1 }, b: null, c: ['k'] }));
    assert.deepEqual(result.user_metadata, { a: { k: 1 }, b: null, c: ['k'] });
  });
});

describe('mergeStrategyByName', () => {
  it('returns the built-in strategies', () => {
    assert.equal(mergeStrategyByName('primary-wins'), primaryWins);
    assert.equal(mergeStrategyByName('secondary-wins'), secondaryWins);
  });

  it('throws a clear error listing the names for anything else', () => {
    for (const name of ['latest-wins', 'Primary-Wins', '', 'constructor', '__proto__']) {
      assert.throws(() => mergeStrategyByName(name), {
        message: `Unknown merge strategy ${JSON.stringify(name)}; expected one of: primary-wins, secondary-wins`,
      });
    }
  });
});

describe('validateMergeResult', () => {
  it('returns a fresh JSON copy of a valid result, without forbidden keys', () => {
    const raw = { user_metadata: JSON.parse('{"a":1,"__proto__":{"x":1},"d":{"b":[1,{"c":null}]}}'), app_metadata: {}, extra: 'ignored' };
    const result = validateMergeResult(raw);
    assert.deepEqual(result, { user_metadata: { a: 1, d: { b: [1, { c: null }] } }, app_metadata: {} });
    assert.notEqual(result.user_metadata, raw.user_metadata);
  });

  it('serialises Dates like JSON.stringify and drops undefined properties', () => {
    const result = validateMergeResult({ user_metadata: { at: new Date('2026-03-12T10:00:00.000Z'), gone: undefined }, app_metadata: {} });
    assert.deepEqual(result, { user_metadata: { at: '2026-03-12T10:00:00.000Z' }, app_metadata: {} });
  });

  it('rejects results with the wrong shape', () => {
    assert.throws(() => validateMergeResult(undefined), { message: 'merge strategy must return { user_metadata, app_metadata }, got undefined' });
    assert.throws(() => validateMergeResult([]), { message: 'merge strategy must return { user_metadata, app_metadata }, got an array' });
    assert.throws(() => validateMergeResult({ user_metadata: {} }), { message: 'merge strategy result: app_metadata must be a plain object, got undefined' });
    assert.throws(() => validateMergeResult({ user_metadata: [], app_metadata: {} }), {
      message: 'merge strategy result: user_metadata must be a plain object, got an array',
    });
    assert.throws(() => validateMergeResult({ user_metadata: null, app_metadata: {} }), {
      message: 'merge strategy result: user_metadata must be a plain object, got null',
    });
    assert.throws(() => validateMergeResult({ user_metadata: new Map(), app_metadata: {} }), {
      message: /user_metadata must be a plain object, got an object of type Map/,
    });
    assert.throws(() => validateMergeResult(Promise.resolve({})), { message: /returned a Promise; merge strategies must be synchronous/ });
  });

  it('rejects results that are not JSON-serializable', () => {
    assert.throws(() => validateMergeResult({ user_metadata: { n: 1n }, app_metadata: {} }), {
      message: 'merge strategy result is not JSON-serializable: user_metadata.n is a bigint, which is not valid JSON',
    });
    assert.throws(() => validateMergeResult({ user_metadata: {}, app_metadata: { list: [1, undefined] } }), {
      message: 'merge strategy result is not JSON-serializable: app_metadata.list[1] is undefined, which is not valid JSON',
    });
    assert.throws(() => validateMergeResult({ user_metadata: { x: Infinity }, app_metadata: {} }), { message: /user_metadata\.x is Infinity/ });
    assert.throws(() => validateMergeResult({ user_metadata: { s: Symbol('s') }, app_metadata: {} }), { message: /user_metadata\.s is a symbol/ });
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.throws(() => validateMergeResult({ user_metadata: { cyclic }, app_metadata: {} }), {
      message: /user_metadata\.cyclic\[0\] contains a circular reference/,
    });
  });

  it('accepts the same object referenced twice (not a cycle)', () => {
    const shared = { k: 1 };
    assert.deepEqual(validateMergeResult({ user_metadata: { a: shared, b: shared }, app_metadata: {} }), {
      user_metadata: { a: { k: 1 }, b: { k: 1 } },
      app_metadata: {},
    });
  });
});

describe('loadMergeStrategy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-merge-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, source: string) => {
    const file = join(dir, name);
    writeFileSync(file, source);
    return file;
  };

  it('resolves built-in names, and an empty spec to the default', async () => {
    assert.equal(await loadMergeStrategy('primary-wins'), primaryWins);
    assert.equal(await loadMergeStrategy(' secondary-wins '), secondaryWins);
    assert.equal(await loadMergeStrategy(''), primaryWins);
  });

  it('rejects unknown names with a message listing the names', async () => {
    await assert.rejects(loadMergeStrategy('newest-wins'), {
      message: 'Unknown merge strategy "newest-wins"; expected one of: primary-wins, secondary-wins, or a path to an ES module such as ./merge.mjs',
    });
  });

  it('loads a custom ES module by absolute path and validates its result', async () => {
    const file = write(
      'custom.mjs',
      `
      export default function merge({ primary, secondary }) {
        primary.user_metadata.mutated = true; // must not leak into the caller's input
        return {
          user_metadata: { ...secondary.user_metadata, ...primary.user_metadata, merged_by: 'custom' },
          app_metadata: primary.app_metadata,
        };
      }
    `,
    );
    const strategy = await loadMergeStrategy(file);
    const data = input({ color: 'red' }, { color: 'blue', size: 'L' }, { roles: ['Admin'] }, { roles: ['AppAdmin'] });
    const snapshot = structuredClone(data);
    assert.deepEqual(strategy(data), {
      user_metadata: { color: 'red', size: 'L', mutated: true, merged_by: 'custom' },
      app_metadata: { roles: ['Admin'] },
    });
    assert.deepEqual(data, snapshot);
  });

  it('loads a custom ES module by a path relative to the working directory', async () => {
    const file = write('relative.mjs', 'export default () => ({ user_metadata: { via: "relative" }, app_metadata: {} });');
    const rel = relative(process.cwd(), file);
    const spec = rel.startsWith('.') ? rel : `./${rel}`;
    const strategy = await loadMergeStrategy(spec);
    assert.deepEqual(strategy(input({}, {})), { user_metadata: { via: 'relative' }, app_metadata: {} });
  });

  it('gives a clear error when a custom strategy returns a bad result', async () => {
    const file = write('bad-result.mjs', 'export default () => ({ user_metadata: "nope", app_metadata: {} });');
    const strategy = await loadMergeStrategy(file);
    assert.throws(() => strategy(input({}, {})), {
      name: 'TypeError',
      message: `Merge strategy ${file}: merge strategy result: user_metadata must be a plain object, got a string`,
    });

    const asyncFile = write('async.mjs', 'export default async () => ({ user_metadata: {}, app_metadata: {} });');
    const asyncStrategy = await loadMergeStrategy(asyncFile);
    assert.throws(() => asyncStrategy(input({}, {})), { message: /returned a Promise; merge strategies must be synchronous/ });

    const fnFile = write('fn-value.mjs', 'export default () => ({ user_metadata: { cb() {} }, app_metadata: {} });');
    const fnStrategy = await loadMergeStrategy(fnFile);
    assert.throws(() => fnStrategy(input({}, {})), { message: /not JSON-serializable: user_metadata\.cb is a function/ });
  });

  it('wraps errors thrown by a custom strategy', async () => {
    const file = write('throws.mjs', 'export default () => { throw new Error("boom"); };');
    const strategy = await loadMergeStrategy(file);
    assert.throws(() => strategy(input({}, {})), { message: `Merge strategy ${file} threw: boom` });
  });

  it('rejects modules without a function default export, and missing modules', async () => {
    const noDefault = write('no-default.mjs', 'export const merge = () => ({});');
    await assert.rejects(loadMergeStrategy(noDefault), {
      name: 'TypeError',
      message: `Merge strategy module ${noDefault} must default-export a function, got undefined`,
    });
    const objectDefault = write('object-default.mjs', 'export default { user_metadata: {} };');
    await assert.rejects(loadMergeStrategy(objectDefault), { message: /must default-export a function, got an object of type Object/ });
    const missing = join(dir, 'missing.mjs');
    await assert.rejects(loadMergeStrategy(missing), {
      message: new RegExp(`^Could not load merge strategy module ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
    });
  });
});

describe('metadataChanges', () => {
  it('lists added and changed top-level keys in the order of the result', () => {
    const before = { color: 'red', roles: ['Admin'], prefs: { a: 1, b: 2 }, same: [{ x: 1 }], n: null };
    const after = { color: 'red', roles: ['Admin', 'AppAdmin'], prefs: { b: 2, a: 1 }, same: [{ x: 1 }], n: null, size: 'L', empty: null };
    assert.deepEqual(metadataChanges(before, after), [
      { key: 'roles', from: ['Admin'], to: ['Admin', 'AppAdmin'], kind: 'changed' },
      { key: 'size', from: undefined, to: 'L', kind: 'added' },
      { key: 'empty', from: undefined, to: null, kind: 'added' },
    ]);
  });

  it('reports null → value as a change and nothing for identical metadata', () => {
    assert.deepEqual(metadataChanges({ a: null }, { a: 0 }), [{ key: 'a', from: null, to: 0, kind: 'changed' }]);
    assert.deepEqual(metadataChanges({ a: { b: [1, 2] } }, { a: { b: [1, 2] } }), []);
    assert.deepEqual(metadataChanges({}, {}), []);
  });

  it('matches what a merge produced', () => {
    const data = input({ color: 'red' }, { color: 'blue', size: 'L' }, { roles: ['Admin'] }, { roles: ['AppAdmin'] });
    const result = primaryWins(data);
    assert.deepEqual(metadataChanges(data.primary.user_metadata, result.user_metadata), [{ key: 'size', from: undefined, to: 'L', kind: 'added' }]);
    assert.deepEqual(metadataChanges(data.primary.app_metadata, result.app_metadata), [
      { key: 'roles', from: ['Admin'], to: ['Admin', 'AppAdmin'], kind: 'changed' },
    ]);
  });

  it('ignores forbidden keys', () => {
    assert.deepEqual(metadataChanges({}, JSON.parse('{"__proto__":{"x":1},"constructor":1,"ok":true}')), [
      { key: 'ok', from: undefined, to: true, kind: 'added' },
    ]);
  });
});
