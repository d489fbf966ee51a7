import type { AuditScope } from '../core/model.js';
import { comparePageSql, ident, idList, literal, oneLine, packedPageSql } from './builder.js';
import { withKeyTypes } from './inspector.js';
import { compareIds, type IdScope } from './rows.js';

/** What `sql` prints the statements for: every setting, or `ids` (--ids); the page shown is (0, pageSize]. */
export interface ExplainOptions {
  ids?: readonly bigint[] | undefined;
  pageSize?: number | undefined;
}

/** One statement `sql` prints: what it is for, in a comment, and its text (no trailing semicolon). */
export interface ExplainedStatement {
  purpose: string;
  sql: string;
}

/** The page `sql` shows when no --page-size (or --batch-size) is given. */
const SHOWN_PAGE = 1000;

/**
 * `coupon-audit sql`: the detection SQL for a scope, as text a DBA can read and run by hand: the
 * plain one-statement form, the orphan counts, and the statements check really sends per page
 * (the packed one, and the one-piece one it falls back to).
 */
export function explainSql(scope: AuditScope, options: ExplainOptions = {}): string {
  const { head, statements } = explained(scope, options);
  const comment = (text: string) => text.replace(/^/gm, '-- ').replace(/ $/gm, '');
  return `${head}\n${statements.map((statement) => `\n${comment(statement.purpose)}\n${statement.sql};\n`).join('')}`;
}

/** The same as one JSON document (`sql --format json`): `{ version, statements: [{ purpose, sql }] }`. */
export function explainJson(scope: AuditScope, options: ExplainOptions = {}): { version: 1; statements: ExplainedStatement[] } {
  return { version: 1, statements: explained(scope, options).statements };
}

function explained(scope: AuditScope, options: ExplainOptions): { head: string; statements: ExplainedStatement[] } {
  const { model } = scope;
  const s = model.settings;
  // As check sends them (core/detect-drift.ts): each id once, ascending.
  const ids = options.ids === undefined ? undefined : [...new Set(options.ids)].sort(compareIds);
  const deleted = `UPPER(s.${ident(s.status)}) <=> UPPER(${literal(s.deletedStatus)})`;
  const only = (column: string, text: boolean) => (ids === undefined ? null : `${column} IN (${idList(ids, text)})`);
  const counters = scope.counters.map((counter, i) => {
    const conditions = [only(ident(counter.foreignKey), counter.keyIsText === true), counter.where === null ? null : `(${counter.where})`].filter((c) => c !== null);
    const filter = conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
    const actual = `COALESCE(k${i}.n, 0)`;
    return {
      select: `       s.${ident(counter.name)}, ${actual} AS ${ident(`actual_${counter.name}`)}`,
      join:
        `LEFT JOIN (SELECT ${ident(counter.foreignKey)} AS id, COUNT(*) AS n FROM ${ident(counter.table)}${filter} ` +
        `GROUP BY ${ident(counter.foreignKey)}) k${i} ON k${i}.id = s.${ident(s.id)}`,
      test: `s.${ident(counter.name)} <=> ${scope.deleted === 'zero' ? `CASE WHEN ${deleted} THEN 0 ELSE ${actual} END` : actual}`,
    };
  });
  const settingsFilter = [only(`s.${ident(s.id)}`, s.idIsText === true), scope.deleted === 'skip' ? `NOT (${deleted})` : null].filter((c) => c !== null);
  const described = scope.counters
    .map((c) => oneLine(`--   ${c.name} = COUNT(*) of ${c.table} rows whose ${c.foreignKey} is the setting's ${s.id}${c.where === null ? '' : `, where ${c.where}`}`))
    .join('\n');
  const head = `-- coupon-audit: drift detection${model.source === null ? '' : ` (model from ${oneLine(model.source)})`}${ids === undefined ? '' : `, for the settings ${ids.join(', ')} (--ids)`}.
-- In ${oneLine(s.table)}, each audited counter caches a count:
${described}
-- A setting drifts when a counter is not (NULL-safely, <=>) that count${scope.deleted === 'zero' ? `, or 0 when ${oneLine(s.status)} is '${oneLine(s.deletedStatus)}'` : ''}:
-- a NULL cache, a negative cache and a non-zero cache on a setting with no children are all drift.${
    scope.deleted === 'skip' ? `\n-- Settings whose ${oneLine(s.status)} is '${oneLine(s.deletedStatus)}' are left out.` : ''
  }${
    // The tool's sessions take NO_BACKSLASH_ESCAPES out of sql_mode (inspector.ts useEngine); a client's may have it.
    scope.counters.some((counter) => counter.where?.includes('\\') === true)
      ? "\n-- A filter holds a backslash, read as an escape: where the server's sql_mode has NO_BACKSLASH_ESCAPES, run\n-- SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', ''); first, as coupon-audit does."
      : ''
  }`;

  const statements: ExplainedStatement[] = [
    {
      purpose: 'As one statement (run it by hand; returns the drifted settings):',
      sql: `SELECT s.${ident(s.id)}, s.${ident(s.status)},
${counters.map((c) => c.select).join(',\n')}
FROM ${ident(s.table)} s
${counters.map((c) => c.join).join('\n')}
WHERE ${settingsFilter.map((c) => `${c} AND `).join('')}NOT (${counters.map((c) => c.test).join(' AND ')})
ORDER BY s.${ident(s.id)}`,
    },
  ];
  // Orphans are a whole-table finding: check with --ids does not look for them.
  if (ids === undefined) {
    scope.counters.forEach((counter, i) => {
      // The child table unaliased: a `where` may name it (`g_coupons.status <> 'REVOKED'`).
      const fk = `${ident(counter.table)}.${ident(counter.foreignKey)}`;
      statements.push({
        purpose:
          i === 0
            ? 'Child rows that count but belong to no setting (orphans, reported, never drift), and those with a NULL setting id:'
            : `The same for ${counter.table}:`,
        sql:
          `SELECT ${literal(counter.table)} AS childTable, SUM(${fk} IS NOT NULL) AS orphans, SUM(${fk} IS NULL) AS nullSettingId ` +
          `FROM ${ident(counter.table)} WHERE ${counter.where === null ? '' : `(${counter.where}) AND `}` +
          `NOT EXISTS (SELECT 1 FROM ${ident(s.table)} s WHERE s.${ident(s.id)} = ${fk})`,
      });
    });
  }

  // As check writes them once the server has said the keys are integers (a text key's range is
  // `> 0 AND <= N` instead of BETWEEN).
  const typed = withKeyTypes(scope, new Set());
  const size = options.pageSize ?? SHOWN_PAGE;
  // The first page as check sends it: every id up to the page's end (its ids start where they start).
  const page: IdScope = ids === undefined ? { kind: 'range', after: null, upTo: BigInt(size) } : { kind: 'ids', ids };
  const which = ids === undefined ? `the first page, ids up to ${size}` : 'the settings of --ids';
  const textKeyNote =
    "(If a key column holds text: the statements above compare it with the ids as numbers, so '010' joins\n" +
    "setting 10 there, as a second row with a count of its own (a drift line that check does not\n" +
    "report), and the orphan count leaves it out; check matches a key by its text, so '010' is an\n" +
    'orphan. Where a key column holds text, go by check.)\n\n';
  statements.push(
    {
      purpose:
        `${textKeyNote}What \`coupon-audit check\` sends instead: the same comparison, one page of settings at a time
(pages by id range), so each comparison is one consistent read and no statement runs long.
This is a page's statement, here for ${which}: the page's settings and each
child table's counts of the same ids, each packed into one text value by GROUP_CONCAT, compared
in Node (README "How check reads"). Per page, check may send a child table's keys one per row
instead of grouped, or count the first pages' children a setting at a time. In the processlist
and the slow log it starts: /* coupon-audit */ SELECT 0 AS b, COUNT(*) AS n, GROUP_CONCAT(
The next pages read \`BETWEEN a AND b\` (a text key: \`> a AND <= b\`). The settings whose
counts differ are then read again by key in the same snapshot
(SELECT s.\`${s.id}\` AS id, … WHERE s.\`${s.id}\` IN (…)).`,
      sql: packedPageSql(typed, page),
    },
    {
      purpose:
        `The same page in one statement that compares on the server: it returns only the drifted
settings, and the page's orphan totals from the same read. check sends it for a page whose
packed text would pass group_concat_max_len.`,
      sql: comparePageSql(typed, page, { onlyDrifted: true }),
    },
  );
  return { head, statements };
}
