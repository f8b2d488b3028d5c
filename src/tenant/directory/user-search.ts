import { tenantError } from '../tenant-errors.ts';

/**
 * The subset of Auth0's Lucene user search that Accord supports:
 *   field:value  field:"quoted value"  field:prefix*  -field:value  NOT field:value
 * joined by AND (or plain whitespace, which means AND here). Values are data, never SQL.
 */
export const SEARCH_FIELDS = [
  'email',
  'email_verified',
  'user_id',
  'name',
  'blocked',
  'identities.connection',
  'identities.provider',
  'identities.user_id',
] as const;

export type SearchField = (typeof SEARCH_FIELDS)[number];

export interface SearchClause {
  field: SearchField;
  value: string;
  negate: boolean;
  /** `value*`: match values that start with `value`. */
  prefix: boolean;
}

const BOOLEAN_FIELDS = new Set<SearchField>(['email_verified', 'blocked']);
const PREFIX_FIELDS = new Set<SearchField>(['email', 'name']);

function fail(message: string): never {
  throw tenantError('invalid_query_string', `Query validation error: ${message}`);
}

export function parseUserSearch(q: string): SearchClause[] {
  const clauses: SearchClause[] = [];
  let i = 0;
  const skipSpaces = () => {
    while (i < q.length && /\s/.test(q[i]!)) i++;
  };

  while (true) {
    skipSpaces();
    if (i >= q.length) break;
    if (q.startsWith('AND', i) && /\s/.test(q[i + 3] ?? '')) {
      if (clauses.length === 0) fail('AND must join two terms.');
      i += 3;
      skipSpaces();
      if (i >= q.length) fail('AND must join two terms.');
    } else if (/^OR\s/.test(q.slice(i, i + 3))) {
      fail('OR is not supported; use AND.');
    }

    let negate = false;
    if (q[i] === '-') {
      negate = true;
      i++;
    } else if (q.startsWith('NOT ', i)) {
      negate = true;
      i += 4;
      skipSpaces();
    }

    const fieldMatch = /^[a-z_.]+(?=:)/.exec(q.slice(i));
    if (!fieldMatch) fail(`expected field:value at position ${i}.`);
    const field = fieldMatch[0] as SearchField;
    if (!(SEARCH_FIELDS as readonly string[]).includes(field)) {
      fail(`unsupported field "${field}"; supported: ${SEARCH_FIELDS.join(', ')}.`);
    }
    i += field.length + 1;

    let value = '';
    let quoted = false;
    if (q[i] === '"') {
      quoted = true;
      i++;
      let closed = false;
      while (i < q.length) {
        const ch = q[i]!;
        if (ch === '\\' && i + 1 < q.length) {
          value += q[i + 1];
          i += 2;
          continue;
        }
        if (ch === '"') {
          closed = true;
          i++;
          break;
        }
        value += ch;
        i++;
      }
      if (!closed) fail('unterminated quoted value.');
    } else {
      while (i < q.length && !/[\s()]/.test(q[i]!)) {
        value += q[i];
        i++;
      }
    }
    if (q[i] === '(' || q[i] === ')') fail('grouping with parentheses is not supported.');
    if (value.length === 0) fail(`empty value for "${field}".`);

    let prefix = false;
    if (!quoted && value.endsWith('*')) {
      if (!PREFIX_FIELDS.has(field)) fail(`wildcards are only supported on ${[...PREFIX_FIELDS].join(' and ')}.`);
      prefix = true;
      value = value.slice(0, -1);
      if (value.length < 3) fail('a wildcard needs at least 3 characters before it.');
    }
    if (!quoted && value.includes('*')) fail('wildcards are only supported at the end of a value.');
    if (BOOLEAN_FIELDS.has(field) && value !== 'true' && value !== 'false') fail(`"${field}" must be true or false.`);
    clauses.push({ field, value, negate, prefix });
  }
  if (clauses.length > 10) fail('at most 10 terms.');
  return clauses;
}
