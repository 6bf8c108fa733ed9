// SQL text the tool sends: quoting, and the few queries built from names. Pure.

/** Quote an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quote a literal for SQL (standard_conforming_strings on). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The SQL that counts the rows of the listed tables ("schema.table" keys, as in the
 * manifest) in one round trip, as a JSON object. Identifiers are quoted by format(%I), so any
 * name works; a table that is not there is simply absent from the result.
 */
export function rowCountSql(tables: string[]): string {
  const wanted = quoteLiteral(JSON.stringify(tables));
  return (
    `SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname, ` +
    `(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}') ` +
    `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ` +
    `WHERE c.relkind IN ('r', 'p') AND (n.nspname || '.' || c.relname) IN (SELECT jsonb_array_elements_text(${wanted}::jsonb))`
  );
}
