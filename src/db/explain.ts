import type { AuditScope } from '../core/model.js';
import { comparePageSql, ident, literal } from './builder.js';
import { withKeyTypes } from './inspector.js';

/**
 * `coupon-audit sql`: the detection SQL for a scope, as text a DBA can read and run by hand: the
 * plain one-statement form, the orphan counts, and the statement check really sends per page.
 */
export function explainSql(scope: AuditScope): string {
  const { model } = scope;
  const s = model.settings;
  const deleted = `UPPER(s.${ident(s.status)}) <=> UPPER(${literal(s.deletedStatus)})`;
  const counters = scope.counters.map((counter, i) => {
    const filter = counter.where === null ? '' : ` WHERE (${counter.where})`;
    const actual = `COALESCE(k${i}.n, 0)`;
    return {
      counter,
      select: `       s.${ident(counter.name)}, ${actual} AS ${ident(`actual_${counter.name}`)}`,
      join:
        `LEFT JOIN (SELECT ${ident(counter.foreignKey)} AS id, COUNT(*) AS n FROM ${ident(counter.table)}${filter} ` +
        `GROUP BY ${ident(counter.foreignKey)}) k${i} ON k${i}.id = s.${ident(s.id)}`,
      test: `s.${ident(counter.name)} <=> ${scope.deleted === 'zero' ? `CASE WHEN ${deleted} THEN 0 ELSE ${actual} END` : actual}`,
    };
  });
  const skip = scope.deleted === 'skip' ? `NOT (${deleted}) AND ` : '';
  const orphans = scope.counters.map((counter) => {
    const fk = `c.${ident(counter.foreignKey)}`;
    return (
      `SELECT ${literal(counter.table)} AS childTable, SUM(${fk} IS NOT NULL) AS orphans, SUM(${fk} IS NULL) AS nullSettingId ` +
      `FROM ${ident(counter.table)} c WHERE ${counter.where === null ? '' : `(${counter.where}) AND `}` +
      `NOT EXISTS (SELECT 1 FROM ${ident(s.table)} s WHERE s.${ident(s.id)} = ${fk});`
    );
  });
  const described = scope.counters
    .map((c) => `--   ${c.name} = COUNT(*) of ${c.table} rows whose ${c.foreignKey} is the setting's ${s.id}${c.where === null ? '' : `, where ${c.where}`}`)
    .join('\n');
  return `-- coupon-audit: drift detection${model.source === null ? '' : ` (model from ${model.source})`}.
-- In ${s.table}, each audited counter caches a count:
${described}
-- A setting drifts when a counter is not (NULL-safely, <=>) that count${scope.deleted === 'zero' ? `, or 0 when ${s.status} is '${s.deletedStatus}'` : ''}:
-- a NULL cache, a negative cache and a non-zero cache on a setting with no children are all drift.${
    scope.deleted === 'skip' ? `\n-- Settings whose ${s.status} is '${s.deletedStatus}' are left out.` : ''
  }

-- As one statement (run it by hand; returns the drifted settings):
SELECT s.${ident(s.id)}, s.${ident(s.status)},
${counters.map((c) => c.select).join(',\n')}
FROM ${ident(s.table)} s
${counters.map((c) => c.join).join('\n')}
WHERE ${skip}NOT (${counters.map((c) => c.test).join(' AND ')})
ORDER BY s.${ident(s.id)};

-- Child rows that count but belong to no setting (orphans, reported, never drift), and those with a NULL setting id:
${orphans.join('\n')}

-- (A text key column: the statements above compare it with the ids as numbers, so '010' is
-- setting 10's there; check matches a key by its text, so '010' is an orphan.)

-- What \`coupon-audit check\` does instead: the same comparison, one page of settings at a time
-- (pages by id range), so each comparison is one consistent read and no statement runs long.
-- This is the page's exact statement, here for the page of ids (0, 1000]: the server compares
-- and returns only the drifted settings, and the page's orphan totals from the same read. check
-- usually sends a cheaper form of the same reads (each branch packed into one text value by
-- GROUP_CONCAT and compared in Node: README "How check reads"), and this one where it cannot.
-- Written for integer keys, as check writes it once the server has said they are (a text key's
-- range is \`> 0 AND <= 1000\` instead).
${comparePageSql(withKeyTypes(scope, new Set()), { kind: 'range', after: 0n, upTo: 1000n }, { onlyDrifted: true })};
`;
}
