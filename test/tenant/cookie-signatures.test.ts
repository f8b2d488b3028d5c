import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { cookieSigner } from '../../src/tenant/oidc/cookie-signatures.ts';

/** Keygrip's signature, as it computes it: HMAC-SHA1 in base64 made URL-safe, padding dropped. */
const keygripSignature = (data: string, key: string) =>
  createHmac('sha1', key)
    .update(data)
    .digest('base64')
    .replace(/\/|\+|=/g, (x) => ({ '/': '_', '+': '-', '=': '' })[x]!);

describe('the signatures of the OpenID Provider cookies', () => {
  const data = '_session=0pXvJkP2-1Qm7tYwz3hdL';

  it("are Keygrip's, so cookies signed before stay valid", () => {
    for (const key of ['k1', 'another key, longer than the digest block of sixty-four bytes, to be hashed first']) {
      assert.equal(cookieSigner([key]).sign(data), keygripSignature(data, key));
    }
  });

  it('accept a signature by any current key and say which, and refuse every other', () => {
    const signer = cookieSigner(['new', 'old']);
    assert.equal(signer.index(data, keygripSignature(data, 'new')), 0);
    assert.equal(signer.index(data, keygripSignature(data, 'old')), 1);
    assert.equal(signer.verify(data, keygripSignature(data, 'old')), true);
    assert.equal(signer.index(data, keygripSignature(data, 'other')), -1);
    assert.equal(signer.index(`${data}x`, keygripSignature(data, 'new')), -1);
    const good = keygripSignature(data, 'new');
    assert.equal(signer.index(data, good.slice(0, -1)), -1, 'shorter');
    assert.equal(signer.index(data, `${good}A`), -1, 'longer');
    assert.equal(signer.index(data, ''), -1);
    assert.equal(signer.index(data, undefined as unknown as string), -1);
    assert.equal(signer.verify(data, 'nope'), false);
  });
});
