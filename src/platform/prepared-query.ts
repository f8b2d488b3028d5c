import type { Compilable, CompiledQuery } from 'kysely';

/** The SQL of the queries given a `statementName`, with their names (see statementNameOf). */
const statementNames = new Map<string, string>();

/**
 * The name under which PostgreSQL keeps this SQL prepared on each connection, if its query was
 * given one (`prepareQuery`'s `statementName`): PostgreSQL then parses and plans it once per
 * connection instead of on every run. Only for statements whose columns are listed, not `*`:
 * a column added to the table later would otherwise change a prepared statement's result,
 * which PostgreSQL refuses until the connection is gone.
 */
export function statementNameOf(sql: string): string | undefined {
  return statementNames.get(sql);
}

/**
 * A query built and compiled once, then run with new values: Kysely builds an operation tree
 * and compiles it to SQL on every call, and on the directory's write paths that JavaScript cost
 * more than SQLite running the statements. `build` receives a placeholder for each name (typed
 * `never`: it stands for a value of whatever type the column takes); each must become a bound
 * parameter of the query (never inlined into its SQL) and is replaced by the caller's value at
 * every run. Run the result with `db.executeQuery(...)` on the database the query was built
 * from, or on one of its transactions.
 */
export function prepareQuery<K extends string, Row>(
  names: readonly K[],
  build: (placeholders: Record<K, never>) => Compilable<Row>,
  options: { statementName?: string } = {},
): (values: Record<K, unknown>) => CompiledQuery<Row> {
  const placeholders = Object.fromEntries(names.map((name, i) => [name, `\u0000accord-parameter-${i}\u0000`])) as Record<K, never>;
  const compiled = build(placeholders).compile();
  if (options.statementName !== undefined) statementNames.set(compiled.sql, options.statementName);
  const slots = compiled.parameters.map((value) => names.find((name) => placeholders[name] === value));
  for (const name of names) {
    if (!slots.includes(name) || compiled.sql.includes(placeholders[name] as string)) {
      throw new Error(`prepareQuery: "${name}" is not a bound parameter of: ${compiled.sql}`);
    }
  }
  return (values) => ({
    ...compiled,
    parameters: compiled.parameters.map((fixed, i) => {
      const slot = slots[i];
      return slot === undefined ? fixed : values[slot];
    }),
  });
}
