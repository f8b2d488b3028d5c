/**
 * How user_metadata / app_metadata of two accounts are combined when they are linked.
 *
 * The tenant (like Auth0) discards the secondary account's metadata on linking, so the
 * web app merges it into the primary first. Everything here is pure: no I/O apart from
 * the dynamic import of a custom strategy module in loadMergeStrategy.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export type Metadata = Record<string, unknown>;

export interface MergeInput {
  primary: { user_metadata: Metadata; app_metadata: Metadata };
  secondary: { user_metadata: Metadata; app_metadata: Metadata };
}

export interface MergeResult {
  user_metadata: Metadata;
  app_metadata: Metadata;
}

export type MergeStrategy = (input: MergeInput) => MergeResult;

export interface MetadataChange {
  key: string;
  from: unknown;
  to: unknown;
  kind: 'added' | 'changed';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

// Keys that could reach Object.prototype if a result is later fed to naive merge/assign code.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const STRATEGY_NAMES = ['primary-wins', 'secondary-wins'] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object of type ${value.constructor?.name ?? 'unknown'}`;
  return `a ${typeof value}`;
}

/**
 * Deep-copies a value into fresh plain JSON, dropping forbidden keys and undefined object
 * properties (JSON drops those too). Anything JSON would silently corrupt (functions,
 * symbols, bigint, NaN/Infinity, cycles, class instances) is an error instead, so a bad
 * merge never loses data quietly.
 */
function toJson(value: unknown, path: string, ancestors: Set<object> = new Set()): Json {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which is not valid JSON`);
    return value;
  }
  if (typeof value !== 'object') throw new TypeError(`${path} is ${describe(value)}, which is not valid JSON`);
  if (ancestors.has(value)) throw new TypeError(`${path} contains a circular reference`);

  // Honour toJSON (e.g. Date → ISO string) the same way JSON.stringify would.
  const withToJson = value as { toJSON?: unknown };
  if (!Array.isArray(value) && !isPlainObject(value) && typeof withToJson.toJSON === 'function') {
    return toJson((withToJson.toJSON as () => unknown)(), path, ancestors);
  }

  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      return value.map((item, i) => {
        if (item === undefined) throw new TypeError(`${path}[${i}] is undefined, which is not valid JSON`);
        return toJson(item, `${path}[${i}]`, ancestors);
      });
    }
    if (!isPlainObject(value)) throw new TypeError(`${path} is ${describe(value)}, not a plain JSON object`);
    const out: JsonObject = {};
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) continue;
      const item = value[key];
      if (item === undefined) continue;
      out[key] = toJson(item, `${path}.${key}`, ancestors);
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

function toJsonObject(value: unknown, path: string): JsonObject {
  // Auth0 omits empty metadata from profiles, so a missing side is simply empty.
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw new TypeError(`${path} must be a plain object, got ${describe(value)}`);
  return toJson(value, path) as JsonObject;
}

/** Structural equality of JSON values; object key order does not matter. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keysA = Object.keys(a);
    const keysB = Object.keys(b);
    return keysA.length === keysB.length && keysA.every((key) => Object.prototype.hasOwnProperty.call(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

function union(first: Json[], second: Json[]): Json[] {
  const out: Json[] = [];
  for (const item of [...first, ...second]) {
    if (!out.some((existing) => jsonEqual(existing, item))) out.push(item);
  }
  return out;
}

function isJsonObject(value: Json): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Merges two already-copied JSON values. The winner's value is kept on conflicts; the
 * loser only fills in what is missing. Inputs are fresh copies, so subtrees can be reused.
 */
function mergeJson(winner: Json, loser: Json): Json {
  if (Array.isArray(winner) && Array.isArray(loser)) return union(winner, loser);
  if (isJsonObject(winner) && isJsonObject(loser)) {
    const out: JsonObject = {};
    for (const key of Object.keys(winner)) {
      out[key] = Object.prototype.hasOwnProperty.call(loser, key) ? mergeJson(winner[key]!, loser[key]!) : winner[key]!;
    }
    for (const key of Object.keys(loser)) {
      if (!Object.prototype.hasOwnProperty.call(out, key)) out[key] = loser[key]!;
    }
    return out;
  }
  // Mismatched kinds (array vs object, object vs null, …) or two scalars: the winner stands.
  return winner;
}

/** Fresh JSON copies of both accounts' metadata; also the only shape checks on the input. */
function copyInput(input: MergeInput): MergeInput {
  if (input === null || typeof input !== 'object') throw new TypeError(`merge input must be an object, got ${describe(input)}`);
  const copy = (side: 'primary' | 'secondary') => {
    const account: Partial<MergeInput['primary']> = input[side] ?? {};
    return {
      user_metadata: toJsonObject(account.user_metadata, `${side}.user_metadata`) as Metadata,
      app_metadata: toJsonObject(account.app_metadata, `${side}.app_metadata`) as Metadata,
    };
  };
  return { primary: copy('primary'), secondary: copy('secondary') };
}

function mergeWith(winner: 'primary' | 'secondary'): MergeStrategy {
  const loser = winner === 'primary' ? 'secondary' : 'primary';
  return (input) => {
    const copy = copyInput(input);
    return {
      user_metadata: mergeJson(copy[winner].user_metadata as JsonObject, copy[loser].user_metadata as JsonObject) as Metadata,
      app_metadata: mergeJson(copy[winner].app_metadata as JsonObject, copy[loser].app_metadata as JsonObject) as Metadata,
    };
  };
}

/** Default: the primary account's values win; the secondary only fills gaps. */
export const primaryWins: MergeStrategy = mergeWith('primary');

/** The secondary account's values win conflicts; arrays are still unioned (secondary's items first). */
export const secondaryWins: MergeStrategy = mergeWith('secondary');

export function mergeStrategyByName(name: string): MergeStrategy {
  switch (name) {
    case 'primary-wins':
      return primaryWins;
    case 'secondary-wins':
      return secondaryWins;
    default:
      throw new Error(`Unknown merge strategy ${JSON.stringify(name)}; expected one of: ${STRATEGY_NAMES.join(', ')}`);
  }
}

/**
 * Checks what a (custom) strategy returned and turns it into fresh plain JSON, so a buggy
 * function fails loudly here instead of corrupting a user's metadata.
 */
export function validateMergeResult(result: unknown): MergeResult {
  if (result instanceof Promise || (isPlainObject(result) && typeof result.then === 'function')) {
    throw new TypeError('merge strategy returned a Promise; merge strategies must be synchronous');
  }
  if (!isPlainObject(result)) {
    throw new TypeError(`merge strategy must return { user_metadata, app_metadata }, got ${describe(result)}`);
  }
  const out = {} as MergeResult;
  for (const field of ['user_metadata', 'app_metadata'] as const) {
    const value = result[field];
    if (!isPlainObject(value)) {
      throw new TypeError(`merge strategy result: ${field} must be a plain object, got ${describe(value)}`);
    }
    try {
      out[field] = toJson(value, field) as Metadata;
    } catch (err) {
      throw new TypeError(`merge strategy result is not JSON-serializable: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

function looksLikePath(spec: string): boolean {
  return isAbsolute(spec) || spec.startsWith('.') || spec.includes('/') || spec.includes('\\') || /\.(?:mjs|cjs|js|mts|ts)$/i.test(spec);
}

/**
 * Resolves a strategy from configuration: a built-in name, or a path (absolute or relative
 * to the working directory) to an ES module whose default export is a MergeStrategy.
 * An empty spec means the default, so an unset-but-present env var behaves like no setting.
 */
export async function loadMergeStrategy(spec: string): Promise<MergeStrategy> {
  if (typeof spec !== 'string') throw new TypeError(`merge strategy must be a name or a module path, got ${describe(spec)}`);
  const trimmed = spec.trim();
  if (trimmed === '') return primaryWins;
  if ((STRATEGY_NAMES as readonly string[]).includes(trimmed)) return mergeStrategyByName(trimmed);
  if (!looksLikePath(trimmed)) {
    throw new Error(
      `Unknown merge strategy ${JSON.stringify(trimmed)}; expected one of: ${STRATEGY_NAMES.join(', ')}, ` + 'or a path to an ES module such as ./merge.mjs',
    );
  }

  const file = resolve(process.cwd(), trimmed);
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new Error(`Could not load merge strategy module ${file}: ${(err as Error).message}`, { cause: err });
  }
  const custom = mod.default;
  if (typeof custom !== 'function') {
    throw new TypeError(`Merge strategy module ${file} must default-export a function, got ${describe(custom)}`);
  }

  return (input: MergeInput): MergeResult => {
    // Hand the custom code copies, so it cannot mutate the caller's profiles.
    const copy = copyInput(input);
    let result: unknown;
    try {
      result = (custom as MergeStrategy)(copy);
    } catch (err) {
      throw new Error(`Merge strategy ${file} threw: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
    try {
      return validateMergeResult(result);
    } catch (err) {
      throw new TypeError(`Merge strategy ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
}

/**
 * Top-level differences for the preview page. Only additions and changes are reported:
 * the built-in strategies never remove keys.
 */
export function metadataChanges(before: Metadata, after: Metadata): MetadataChange[] {
  const prev = isPlainObject(before) ? before : {};
  const next = isPlainObject(after) ? after : {};
  const changes: MetadataChange[] = [];
  for (const key of Object.keys(next)) {
    if (FORBIDDEN_KEYS.has(key) || next[key] === undefined) continue;
    const existed = Object.prototype.hasOwnProperty.call(prev, key) && prev[key] !== undefined;
    if (!existed) changes.push({ key, from: undefined, to: next[key], kind: 'added' });
    else if (!jsonEqual(prev[key], next[key])) changes.push({ key, from: prev[key], to: next[key], kind: 'changed' });
  }
  return changes;
}
