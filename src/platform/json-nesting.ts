/**
 * How deep JSON text nests, found by a scan of the text rather than by parsing it: JSON.parse
 * itself copes with any depth, but what walks the result recursively afterwards (JSON.stringify,
 * a merge, a renderer) overflows the stack a few thousand levels down, a 500 for one request.
 * So every JSON body is scanned before it is parsed, and refused past this bound.
 */

import { platformErrors } from './errors.ts';

/** Deeper than any Management API, token or app exchange needs (metadata adds at most 10 levels). */
export const MAX_JSON_NESTING = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/**
 * True when the arrays and objects of `json` nest deeper than `max`. Brackets inside strings
 * do not count. Works on the text or on its UTF-8 bytes (no ASCII byte occurs inside a
 * multi-byte character); malformed JSON is left for the parser to refuse.
 */
export function jsonNestsDeeperThan(json: string | Uint8Array, max: number): boolean {
  const at = typeof json === 'string' ? (i: number) => json.charCodeAt(i) : (i: number) => json[i]!;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = at(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (OPEN.has(c)) {
      if (++depth > max) return true;
    } else if (CLOSE.has(c)) {
      depth--;
    }
  }
  return false;
}

/** How deep a parsed value nests (a scalar is 0, `{}` is 1), counted without recursion and only up to `max + 1`. */
export function nestingDepth(value: unknown, max: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > max) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * A `verify` hook for express.json (body-parser): refuses a body nested deeper than
 * MAX_JSON_NESTING before it is parsed. Thrown as an AccordError so each half's error edge
 * answers it in its own shape (400).
 */
export function jsonBodyNestingGuard(_req: unknown, _res: unknown, body: Buffer, encoding: string | null): void {
  // body-parser reads UTF-8, -16 or -32; only UTF-8 (JSON's own encoding) is scanned as bytes.
  const text = !encoding || /^utf-?8$/i.test(encoding) ? body : new TextDecoder(encoding).decode(body);
  if (jsonNestsDeeperThan(text, MAX_JSON_NESTING)) {
    throw platformErrors.error('json_too_deep', `The request body nests arrays and objects more than ${MAX_JSON_NESTING} levels deep.`);
  }
}
