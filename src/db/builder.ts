import type { AuditScope, CounterDefinition, CounterModel } from '../core/model.js';
import { compareIds, type IdScope } from './rows.js';
import { InternalError } from '../errors.js';

/**
 * Every statement the tool sends, built by pure functions from the model (test/unit/builder.test.ts
 * pins their exact text). Identifiers are quoted here; values are inlined here as literals, so no
 * statement is sent with `?` placeholders: the driver's placeholder substitution would also rewrite
 * a `?` inside an operator's `where` expression.
 */

/** Every statement starts with this, so a DBA finds ours in the processlist and the slow log. */
export const TAG = '/* coupon-audit */';

const tag = (sql: string): string => `${TAG} ${sql}`;

/** A quoted identifier: backticks doubled. */
export function ident(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal, escaped as the server reads it with its default sql_mode. */
export function literal(value: string): string {
  return `'${value.replace(/[\0\n\r\b\t\x1a'"\\]/g, (char) => ESCAPES[char] ?? char)}'`;
}

/**
 * Where the quoted string or name that opens at `at` (`'`, `"` or `` ` ``) closes, as the server
 * reads it with backslash escapes (every session of the tool: inspector.ts useEngine): the index of
 * its closing quote, a doubled quote and (not in a backtick name) a backslashed character being
 * inside; -1 when it is not closed.
 */
export function closingQuote(text: string, at: number): number {
  const quote = text[at];
  for (let i = at + 1; i < text.length; i += 1) {
    if (quote !== '`' && text[i] === '\\') i += 1;
    else if (text[i] === quote) {
      if (text[i + 1] !== quote) return i;
      i += 1;
    }
  }
  return -1;
}

const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\b': '\\b',
  '\t': '\\t',
  '\x1a': '\\Z',
  "'": "''",
  '"': '"',
  '\\': '\\\\',
};

/** A literal for an exact integer, a string or NULL. */
export function value(v: bigint | number | string | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return literal(v);
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new TypeError(`not an exact integer: ${v}`);
  return v.toString();
}

/**
 * Ids for `IN (…)`: as numbers, or quoted where the column holds text (model.ts keyIsText,
 * idIsText). A text column compared with a number is compared as a double row by row, which no
 * index serves: under repair's locks that read every row of the table. Quoted, its index finds the
 * rows whose text the column's collation calls the id's ('10 ' on a padding collation, not '010'),
 * the rule the page statements' GROUP BY applies.
 */
export function idList(ids: readonly bigint[], text = false): string {
  if (ids.length === 0) throw new TypeError('an empty id list');
  return ids.map((id) => (text ? `'${id}'` : id.toString())).join(', ');
}

/**
 * The condition that puts `column` in the scope. Ranges are half-open (after, upTo] and contiguous
 * (the first unbounded below, the last above), so every child row with a setting id falls in
 * exactly one page and orphans are counted once. Child rows whose key is NULL belong to no page:
 * nullKeyCountSql counts them. `text`: the key column holds text (true), an integer (false), or
 * is not known, the scope not read from the server (undefined: the `sql` command, no connection).
 */
export function scopeCondition(column: string, scope: IdScope, text?: boolean): string | null {
  if (scope.kind === 'ids') return `${column} IN (${idList(scope.ids, text === true)})`;
  const { after, upTo } = scope;
  if (after === null && upTo === null) return null;
  if (after === null) return `${column} <= ${upTo}`;
  if (upTo === null) return `${column} > ${after}`;
  // A key known to be an integer (integer or DECIMAL(n,0): db/inspector.ts holdsIntegerIds,
  // withKeyTypes) takes the range as one BETWEEN: the server tests every row a range read returns
  // against the WHERE again, and one BETWEEN is one read of the key where `> a AND <= b` is two
  // comparisons and an AND. Measured on the 1.2M-settings bench, 60 pages of 20,000 settings: 6 %
  // less server CPU for the codes (1.65 against 1.76 s over two passes), 3 % for the settings. A
  // text key, or one not known, keeps the two comparisons: a text key is compared as a number,
  // where `after + 1` is no bound ('5.5').
  if (text === false) return `${column} BETWEEN ${after + 1n} AND ${upTo}`;
  return `${column} > ${after} AND ${column} <= ${upTo}`;
}

const where = (conditions: (string | null)[]): string => {
  const parts = conditions.filter((part): part is string => part !== null);
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
};

/** The deleted test on the settings row `s` (NULL-safe: a NULL status is not deleted). */
function deletedTest(model: CounterModel): string {
  return `UPPER(s.${ident(model.settings.status)}) <=> UPPER(${literal(model.settings.deletedStatus)})`;
}

/**
 * The child branches of a page: one per child table, whose counters it counts together (each
 * summing its own filter); a table whose counters use different keys gives each its own branch,
 * as different keys are different groupings. `counters` are indexes into scope.counters. Both
 * page statements (comparePageSql, packedPageSql) read the children this way, in this order.
 */
export function childBranches(scope: AuditScope): { table: string; counters: number[] }[] {
  const branches: { table: string; counters: number[] }[] = [];
  for (const table of new Set(scope.counters.map((counter) => counter.table))) {
    const mine = scope.counters.filter((counter) => counter.table === table);
    const foreignKeys = [...new Set(mine.map((counter) => counter.foreignKey))];
    const groups = foreignKeys.length > 1 ? mine.map((counter) => [counter]) : [mine];
    for (const group of groups) branches.push({ table, counters: group.map((counter) => scope.counters.indexOf(counter)) });
  }
  return branches;
}

/**
 * One branch's GROUP BY of the page's id range: its key, a count per counter (COUNT(*), or on a
 * shared table a SUM of the counter's filter), `rows` (FROM … WHERE …: the child rows that count)
 * and `from` (the same, GROUP BY the key). A table that backs one counter is filtered by its
 * `where` in WHERE, where an index can serve it.
 */
function groupedCounts(
  scope: AuditScope,
  branch: { table: string; counters: number[] },
  ids: IdScope,
): { fk: string; counts: string[]; rows: string; from: string; fromWhere: (condition: string) => string } {
  const mine = branch.counters.map((i) => scope.counters[i]!);
  const fk = ident(mine[0]!.foreignKey);
  const single = mine.length === 1 ? mine[0]! : null;
  const counts = mine.map((counter) => (single !== null || counter.where === null ? 'COUNT(*)' : `SUM(CASE WHEN (${counter.where}) THEN 1 ELSE 0 END)`));
  const filter = single?.where != null ? `(${single.where})` : null;
  const rowsWhere = (condition: string): string => `FROM ${ident(branch.table)}${where([condition, filter])}`;
  const rows = rowsWhere(scopeCondition(fk, ids, mine[0]!.keyIsText) ?? `${fk} IS NOT NULL`);
  return { fk, counts, rows, from: `${rows} GROUP BY ${fk}`, fromWhere: (condition) => `${rowsWhere(condition)} GROUP BY ${fk}` };
}

/**
 * A 'points' branch's conditions on `column` (BranchForm): one `column = p` per point, and one
 * for the rest of the range, an OR of the open intervals between and around the points (empty
 * where the key is an integer and the points are consecutive: an index dive each). Together they
 * cover the range (after, upTo] once, whichever of the points are settings, so the counts are
 * those of the range read whole, as long as distinct points compare as distinct values: a text
 * key is compared with them as a double, where ids past 2^53 can be equal, so core/detect-drift.ts
 * gives no such points.
 */
export function pointConditions(column: string, scope: IdScope): string[] {
  const points = scope.kind === 'range' ? (scope.points ?? []) : [];
  if (scope.kind !== 'range' || points.length === 0) throw new InternalError('pointConditions: a range with points');
  const gaps: string[] = [];
  let below = scope.after;
  for (const point of points) {
    if ((below !== null && point <= below) || (scope.upTo !== null && point > scope.upTo)) {
      throw new InternalError(`pointConditions: point ${point} out of order or outside (${scope.after ?? '-∞'}, ${scope.upTo ?? '+∞'}]`);
    }
    gaps.push(below === null ? `${column} < ${point}` : `${column} > ${below} AND ${column} < ${point}`);
    below = point;
  }
  if (scope.upTo === null) gaps.push(`${column} > ${below}`);
  else if (scope.upTo > below!) gaps.push(`${column} > ${below} AND ${column} <= ${scope.upTo}`);
  return [...points.map((point) => `${column} = ${point}`), `(${gaps.map((gap) => `(${gap})`).join(' OR ')})`];
}

/**
 * The exact comparison: settings compared with their child counts, in ONE statement, so every
 * cached value and the count it is compared with come from one consistent read (SPEC.md "Detection
 * must be exact on a live database"). scanner.ts runs it for a page whose packed value
 * (packedPageSql) was cut, in that page's snapshot, and alone for the unindexed whole-table scan;
 * `sql` prints it for a DBA. Each child table is read once, by the index on
 * its key, and no join is needed: the settings rows and the child counts of the page's id range
 * are stacked (UNION ALL) and grouped by id, so each group holds one setting's cached values and
 * its counts, or only counts (orphans: child rows whose setting id names no setting).
 *
 * Rows: the drifted settings (compared NULL-safely on the server), the orphan groups (known = 0),
 * the groups of an id that several settings rows share (known > 1: where settings.id only leads a
 * key, scanner.ts readPage stops the run on them; kept out, two rows of one id passed as no drift),
 * and the WITH ROLLUP row (id NULL), whose sums are the page's totals: known = settings in the
 * page, audited = settings audited; deleted = the status is the deleted one. Per counter i:
 * cached<i>, actual<i>, zero (expect 0 instead).
 */
export function comparePageSql(scope: AuditScope, ids: IdScope, options: { onlyDrifted: boolean }): string {
  const { model } = scope;
  const s = model.settings;
  const sid = ident(s.id);
  const n = scope.counters.map((_, i) => i);
  const deleted = deletedTest(model);
  const audited = scope.deleted === 'skip' ? `NOT (${deleted})` : '1';
  const zero = scope.deleted === 'zero' ? `${deleted}` : '0';
  // sid: the setting's own id. The group's `id` is whichever of its equal texts the server gives
  // back: with a text key, a child's ('10 ' on a padding collation) as well as the setting's.
  const settingsBranch =
    `SELECT s.${sid} AS id, 1 AS known, ${audited} AS audited, s.${ident(s.status)} AS status, ${deleted} AS deleted, ${zero} AS zero, ` +
    `${scope.counters.map((counter, i) => `s.${ident(counter.name)} AS cached${i}`).join(', ')}, ` +
    `${n.map((i) => `0 AS n${i}`).join(', ')}, s.${sid} AS sid FROM ${ident(s.table)} s${where([scopeCondition(`s.${sid}`, ids, s.idIsText)])}`;
  const pad = ['0', '0', 'NULL', '0', '0', ...n.map(() => 'NULL')].join(', ');
  const children = childBranches(scope).map((branch) => {
    const { fk, counts, from } = groupedCounts(scope, branch, ids);
    const columns = n.map((i) => (branch.counters.includes(i) ? counts[branch.counters.indexOf(i)]! : '0'));
    return `SELECT ${fk}, ${pad}, ${columns.join(', ')}, NULL ${from}`;
  });
  const stacked = [settingsBranch, ...children].join(' UNION ALL ');
  const grouped =
    `SELECT u.id, SUM(u.known) AS known, SUM(u.audited) AS audited, MAX(u.status) AS status, MAX(u.deleted) AS deleted, MAX(u.zero) AS zero, ` +
    n.map((i) => `MAX(u.cached${i}) AS cached${i}, SUM(u.n${i}) AS actual${i}`).join(', ') +
    `, MAX(u.sid) AS sid FROM (${stacked}) u GROUP BY u.id WITH ROLLUP`;
  const expected = (i: number) => `CASE WHEN g.zero = 1 THEN 0 ELSE g.actual${i} END`;
  const drifted = `(g.audited = 1 AND NOT (${n.map((i) => `g.cached${i} <=> ${expected(i)}`).join(' AND ')}))`;
  const filter = options.onlyDrifted ? ` WHERE g.id IS NULL OR g.known <> 1 OR ${drifted}` : '';
  return tag(`SELECT g.* FROM (${grouped}) g${filter}`);
}

/** The longest packed column a page statement may return (SET SESSION group_concat_max_len). */
export const PACKED_MAX_BYTES = 4 * 1024 * 1024; // within every server's default max_allowed_packet

/**
 * How a packed page sends one child branch (packedPageSql):
 * - 'grouped': a record per setting that has children, `settingId count…`: the branch's GROUP BY,
 *   which the server materializes before GROUP_CONCAT reads it;
 * - 'rows': the key of every child row that counts, `settingId`, counted by Node (db/scanner.ts
 *   parsePackedRuns): in the order of the index read as a rule (equal keys together), but the
 *   server promises no order (a filtered branch read by a table scan comes in the table's), and
 *   keys in any other order are counted the text way. No grouping and no
 *   table in between: where settings have few children each (1.2M settings, 3M codes, 1M uses),
 *   a page of 20,000 settings cost the server 4.0 ms instead of 6.1-7.5 ms for the uses and
 *   10.8-11.6 ms instead of 11.6-12.4 ms for the codes; with many children per setting grouping
 *   wins (a row cost the text 0.07-0.09 µs, a group 0.23-0.33 µs). Only for a branch of
 *   one counter (its filter is in WHERE);
 * - 'points': grouped, but the range's `points` (IdScope) each counted by `key = p` and the rest of
 *   the range by one condition (pointConditions), a UNION ALL of them grouped. A range read costs
 *   the server a test of its bounds per row (EXPLAIN: Using where), an equality none (ref access):
 *   where settings have thousands of children each (the first settings of a skewed table) that
 *   was 25 % of the time (73 against 98 ms for 8 settings and 1.0M codes), against 11-13 µs a
 *   point (core/detect-drift.ts POINTS_FORM_MIN_PER_GROUP says where it pays). Needs a range with points.
 * core/detect-drift.ts picks the form per page.
 */
export type BranchForm = 'grouped' | 'rows' | 'points';

/**
 * The cheap form of the detection statement for one page (an id range or a list of ids): the same reads as
 * comparePageSql (the page's settings by primary key, each child table's rows of the range by its
 * index), in ONE statement, but each packed by GROUP_CONCAT into one text value instead of being
 * stacked and grouped again: on MariaDB that second grouping costs about twice the raw scans when
 * settings have few codes each (npm run bench -- --scale many-settings). Rows: b = 0 the settings
 * (`id deleted cached0 cached1 …`, `-` for a NULL cache; `deleted` only when the scope needs it),
 * b = 1… one per childBranches entry, in the form `forms` gives it (BranchForm; grouped by
 * default), each with n = its record count, so a value cut at group_concat_max_len is noticed
 * (db/scanner.ts then reads the page again). Node compares (scanner.ts parsePackedPage). Each
 * record is one CONCAT_WS value: GROUP_CONCAT of several arguments cost the server about 1 ms more
 * per 20,000 settings; no argument is NULL (CONCAT_WS would drop it and shift the fields).
 */
export function packedPageSql(scope: AuditScope, ids: IdScope, forms: readonly BranchForm[] = []): string {
  const { model } = scope;
  const s = model.settings;
  const fields = [
    `s.${ident(s.id)}`,
    ...(scope.deleted === 'count' ? [] : [`${deletedTest(model)}`]),
    ...scope.counters.map((counter) => `IFNULL(s.${ident(counter.name)}, '-')`),
  ];
  const settings =
    `SELECT 0 AS b, COUNT(*) AS n, ${oneCollation(`GROUP_CONCAT(CONCAT_WS(' ', ${fields.join(', ')}) SEPARATOR ',')`, s.idIsText)} AS p ` +
    `FROM ${ident(s.table)} s${where([scopeCondition(`s.${ident(s.id)}`, ids, s.idIsText)])}`;
  const children = childBranches(scope).map((branch, j) => {
    const { fk, counts, rows, from, fromWhere } = groupedCounts(scope, branch, ids);
    const form = forms[j] ?? 'grouped';
    const text = scope.counters[branch.counters[0]!]!.keyIsText;
    if (form === 'rows') {
      if (branch.counters.length !== 1) throw new InternalError(`packedPageSql: the rows form is for a branch of one counter (branch ${j} has ${branch.counters.length})`);
      return `SELECT ${j + 1}, COUNT(*), ${oneCollation(`GROUP_CONCAT(${fk} SEPARATOR ',')`, text)} ${rows}`;
    }
    const select = `SELECT ${fk} AS k, ${counts.map((count, k) => `${count} AS n${k}`).join(', ')} `;
    // Points: each part a group or none, in the order of the points (the rest of the range last:
    // an orphan key there below a point sends the page the text way, which matches keys by a map).
    const grouped = form === 'points' ? pointConditions(fk, ids).map((condition) => `${select}${fromWhere(condition)}`).join(' UNION ALL ') : `${select}${from}`;
    return `SELECT ${j + 1}, COUNT(*), ${oneCollation(`GROUP_CONCAT(CONCAT_WS(' ', ${['x.k', ...counts.map((_, k) => `x.n${k}`)].join(', ')}) SEPARATOR ',')`, text)} FROM (${grouped}) x`;
  });
  return tag([settings, ...children].join(' UNION ALL '));
}

/**
 * A packed value that holds a text column's values (a text id or key) in one character set and
 * collation for all of packedPageSql's branches: a UNION refuses two text columns of different
 * collations ("Illegal mix of collations for operation 'UNION'"), such as two child tables' text
 * keys, one utf8mb4_general_ci and one utf8mb4_unicode_ci. The value is only read by Node; which
 * key is whose was decided inside its branch, by its own column's collation. The driver reads
 * results as utf8mb4 anyway, so the bytes are the same. Digits only (an integer column): as it is.
 */
function oneCollation(packed: string, text: boolean | undefined): string {
  return text === true ? `CONVERT(${packed} USING utf8mb4) COLLATE utf8mb4_bin` : packed;
}

/** Child rows whose key is NULL (never any setting's): counted once per scan, apart from orphans. */
export function nullKeyCountSql(counter: CounterDefinition): string {
  const fk = ident(counter.foreignKey);
  return tag(`SELECT COUNT(*) AS n FROM ${ident(counter.table)}${where([`${fk} IS NULL`, counter.where === null ? null : `(${counter.where})`])}`);
}

/**
 * One counter's filter over a page's child rows, alone: run only after a page statement failed
 * while running (not compiling), to tell whether this counter's `where` is what failed
 * (detect-drift.ts failingFilter).
 */
export function filterCheckSql(counter: CounterDefinition, ids: IdScope): string {
  const fk = ident(counter.foreignKey);
  return tag(`SELECT COUNT(*) AS n FROM ${ident(counter.table)}${where([scopeCondition(fk, ids, counter.keyIsText), counter.where === null ? null : `(${counter.where})`])}`);
}

/** The highest setting id (one dive into the primary key); NULL for no settings. */
export function lastIdSql(model: CounterModel): string {
  return tag(`SELECT MAX(${ident(model.settings.id)}) AS id FROM ${ident(model.settings.table)}`);
}

/** The settings' ids after `after`, ascending: pageIdsSql and pageBoundarySql read a page's worth of them. */
function idsAfter(model: CounterModel, after: bigint | null): string {
  const sid = ident(model.settings.id);
  return `SELECT ${sid} AS id FROM ${ident(model.settings.table)}${where([after === null ? null : `${sid} > ${after}`])} ORDER BY ${sid}`;
}

/** The ids of the page that starts after `after` and holds `size` settings (fewer: the rest is one page), ascending. */
export function pageIdsSql(model: CounterModel, after: bigint | null, size: number): string {
  return tag(`${idsAfter(model, after)} LIMIT ${size}`);
}

/** The last id of the page that starts after `after` and holds `size` settings; no row: the rest is one page. */
export function pageBoundarySql(model: CounterModel, after: bigint | null, size: number): string {
  return tag(`${idsAfter(model, after)} LIMIT 1 OFFSET ${size - 1}`);
}

/**
 * A settings row as Node reads it (`s`): its id, status, whether the status is the deleted one
 * (deletedTest: the server decides, by the column's collation, as the page statements do, so Node
 * never tells it otherwise), and each counter's cache.
 */
function settingColumns(scope: AuditScope): string {
  const s = scope.model.settings;
  return [
    `s.${ident(s.id)} AS id`,
    `s.${ident(s.status)} AS status`,
    `${deletedTest(scope.model)} AS deleted`,
    ...scope.counters.map((counter, i) => `s.${ident(counter.name)} AS cached${i}`),
  ].join(', ');
}

/** How the lock statement treats rows another session holds: wait for them, leave them out, or fail at once. */
export type LockMode = 'wait' | 'skip-locked' | 'nowait';

const LOCK_SUFFIX: Record<LockMode, string> = { wait: '', 'skip-locked': ' SKIP LOCKED', nowait: ' NOWAIT' };

/**
 * These settings' rows, read plainly: how a page's candidates are read again inside its snapshot
 * (db/scanner.ts compareCandidates), ascending. lockSettingsSql is the same read, locking.
 */
export function settingsByIdSql(scope: AuditScope, ids: readonly bigint[]): string {
  const s = scope.model.settings;
  return tag(`SELECT ${settingColumns(scope)} FROM ${ident(s.table)} s WHERE s.${ident(s.id)} IN (${idList(ids, s.idIsText)}) ORDER BY s.${ident(s.id)}`);
}

/**
 * Repair step 2: lock the batch's existing settings, ascending. `skip-locked` leaves out rows
 * others hold, `nowait` fails at once on one (3572, or 1205 on MariaDB), `wait` waits for them.
 */
export function lockSettingsSql(scope: AuditScope, ids: readonly bigint[], mode: LockMode): string {
  return `${settingsByIdSql(scope, ids)} FOR UPDATE${LOCK_SUFFIX[mode]}`;
}

/** The children of these settings that count, grouped by key: `FROM … GROUP BY key` of countChildrenSql and countChildrenStackedSql. */
function childrenOf(counter: CounterDefinition, list: string): string {
  const fk = ident(counter.foreignKey);
  return `FROM ${ident(counter.table)}${where([`${fk} IN (${list})`, counter.where === null ? null : `(${counter.where})`])} GROUP BY ${fk}`;
}

/** One counter's children of these settings, by a plain (non-locking) read: repair step 3, and a page's candidates. */
export function countChildrenSql(counter: CounterDefinition, ids: readonly bigint[]): string {
  return tag(`SELECT ${ident(counter.foreignKey)} AS settingId, COUNT(*) AS n ${childrenOf(counter, idList(ids, counter.keyIsText))}`);
}

/**
 * countChildrenSql matched with the settings as comparePageSql matches them, for a text key whose
 * groups did not all come back as ids (db/scanner.ts countChildren): the settings' ids and the
 * children's keys stacked and grouped by key, so a key is a setting's when the column's collation
 * calls its text the id's ('10 ' on a padding collation, not '010' or '10.0', which `IN (10)` lets
 * through as numbers). `settingId` is the setting's own id, whatever text the group came back as.
 * It reads the settings again and groups twice: about twice countChildrenSql's time for 700 small
 * settings, so only where needed.
 */
export function countChildrenStackedSql(model: CounterModel, counter: CounterDefinition, ids: readonly bigint[]): string {
  const sid = ident(model.settings.id);
  return tag(
    `SELECT MAX(u.sid) AS settingId, SUM(u.n) AS n FROM (` +
      `SELECT s.${sid} AS k, s.${sid} AS sid, 0 AS n FROM ${ident(model.settings.table)} s WHERE s.${sid} IN (${idList(ids, model.settings.idIsText)}) UNION ALL ` +
      `SELECT ${ident(counter.foreignKey)}, NULL, COUNT(*) ${childrenOf(counter, idList(ids, counter.keyIsText))}` +
      `) u GROUP BY u.k HAVING MAX(u.sid) IS NOT NULL`,
  );
}

/** One counter of one setting written: `from` (null: a NULL cache) → `to`. */
export interface CounterWrite {
  settingId: bigint;
  counter: string;
  from: bigint | null;
  to: bigint;
}

/**
 * Repair step 4: the batch's new values in ONE statement (a round trip per setting would hold the
 * batch's locks for as many round trips), as literals (never `col = col + n`: the rows are locked,
 * so the values are exact): per counter a CASE over the settings it changes (caseTree, by id; a
 * setting written twice keeps its first value). A counter a setting does not change keeps its value (ELSE); `preserved` columns (ON
 * UPDATE CURRENT_TIMESTAMP) are assigned to themselves so that only the counters change.
 */
export function writeCountersSql(model: CounterModel, writes: readonly CounterWrite[], preserved: readonly string[]): string {
  if (writes.length === 0) throw new TypeError('nothing to write');
  const id = ident(model.settings.id);
  // Built with loops, not chains of map/filter: a repair makes one of these per transaction.
  const cases = new Map<string, Map<bigint, bigint>>();
  const settings = new Set<bigint>();
  for (const write of writes) {
    let values = cases.get(write.counter);
    if (values === undefined) cases.set(write.counter, (values = new Map()));
    if (!values.has(write.settingId)) values.set(write.settingId, write.to); // the first, as a flat CASE would take it
    settings.add(write.settingId);
  }
  const assignments: string[] = [];
  const text = model.settings.idIsText === true;
  for (const [name, values] of cases) {
    // A text id is compared as text (a number against it is a double: ids past 2^53 would meet
    // their neighbours), so its tree splits in text order: the digits' code points, which every
    // collation orders alike.
    const entries = [...values].sort(([a], [b]) => (text ? compareText(a.toString(), b.toString()) : compareIds(a, b)));
    assignments.push(`${ident(name)} = ${caseTree(id, entries, ident(name), text)}`);
  }
  for (const column of preserved) assignments.push(`${ident(column)} = ${ident(column)}`);
  return tag(`UPDATE ${ident(model.settings.table)} SET ${assignments.join(', ')} WHERE ${id} IN (${idList([...settings], model.settings.idIsText)})`);
}

/** The most WHENs of one flat CASE in caseTree. */
const CASE_LEAF = 16;

/**
 * `CASE column WHEN id THEN value … ELSE otherwise END` over `entries` (ids ascending, unique), as
 * a tree of range tests down to flat CASEs of at most CASE_LEAF ids: the server reads a flat CASE
 * in order for every row it sets, so one of n ids costs about n²/2 comparisons per batch, and a tree
 * about n × (log2(n / 16) + 8). Setting two counters of 500 settings (1.2M settings, in a
 * rolled-back transaction, median of 12): 6.3-6.4 ms flat, 2.8 ms as a tree.
 */
function caseTree(column: string, entries: readonly (readonly [bigint, bigint])[], otherwise: string, text = false): string {
  const id = (settingId: bigint): string => idList([settingId], text);
  if (entries.length <= CASE_LEAF) {
    let whens = '';
    for (const [settingId, to] of entries) whens += ` WHEN ${id(settingId)} THEN ${to}`;
    return `CASE ${column}${whens} ELSE ${otherwise} END`;
  }
  const half = entries.length >> 1;
  const left = caseTree(column, entries.slice(0, half), otherwise, text);
  const right = caseTree(column, entries.slice(half), otherwise, text);
  return `CASE WHEN ${column} < ${id(entries[half]![0])} THEN ${left} ELSE ${right} END`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One audit row per write; the run id and the database user are the run's, the same on every row. */
/** The audit table's columns repair writes (sql/audit-table.sql has them, and more). */
export const AUDIT_COLUMNS = ['runId', 'settingId', 'counterName', 'oldValue', 'newValue', 'dbUser'] as const;

export function insertAuditSql(table: string, run: { runId: string; dbUser: string }, writes: readonly CounterWrite[]): string {
  const runId = literal(run.runId);
  const dbUser = literal(run.dbUser);
  const counters = new Map<string, string>();
  const tuples = writes.map((write) => {
    let counter = counters.get(write.counter);
    if (counter === undefined) counters.set(write.counter, (counter = literal(write.counter)));
    return `(${runId}, ${write.settingId}, ${counter}, ${value(write.from)}, ${write.to}, ${dbUser})`;
  });
  return tag(`INSERT INTO ${ident(table)} (${AUDIT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`);
}

/** sql/audit-table.sql with the configured name, taken literally (no replacement patterns). */
export function auditTableDdl(template: string, defaultName: string, name: string): string {
  const placeholder = ident(defaultName);
  if (!template.includes(placeholder)) throw new InternalError(`sql/audit-table.sql does not name ${placeholder}`);
  return tag(template.split(placeholder).join(ident(name)).replace(/;\s*$/, '').replace(/^(\s*--[^\n]*\n)+/, ''));
}

// Session and transaction control.
export const sessionSql = {
  /**
   * The connection's collation: the --url database's default (`collation`, where its character set
   * is utf8mb4), not the driver's utf8mb4_unicode_ci. A config's filter that compares a text column
   * with an expression of the connection's collation (`code <> CAST(id AS CHAR)`: both IMPLICIT)
   * then works on the tables made with the database's defaults (inspector.ts useEngine); a table of
   * another collation needs a COLLATE in the filter, as in any client.
   */
  names: (collation: string) => tag(`SET NAMES utf8mb4 COLLATE ${literal(collation)}`),
  /**
   * The session's sql_mode without NO_BACKSLASH_ESCAPES, wherever the server's has it: a backslash
   * in a quoted string escapes, as literal() writes strings and config-schema.ts expressionProblem
   * reads a filter's quotes (with it, a filter the check read as one quoted string could end its
   * string at a backslash and close the parenthesis around it: a trial's). The mode is a
   * comma-separated list: that one name is taken out of it.
   */
  backslashEscapes: tag("SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))"),
  readCommitted: tag('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'),
  /**
   * Every connection's bound on a wait for a table's metadata lock (inspector.ts useEngine): a read
   * queued behind an ALTER TABLE gives up with 1205 after `seconds` instead of the server's day.
   */
  metadataLockWait: (seconds: number) => tag(`SET SESSION lock_wait_timeout = ${Math.trunc(seconds)}`),
  /**
   * The repair session's waits: for a row lock, and where `metadataLock` for a table's metadata lock
   * too (the same bound, so that an ALTER queued on the audit table ends the batch's wait with 1205,
   * which is redone); `idleSeconds` the server's end for a transaction left idle (engine.ts).
   */
  writeTimeouts: (seconds: number, options: { metadataLock: boolean; idleSeconds: number | null }) =>
    tag(
      `SET SESSION innodb_lock_wait_timeout = ${Math.trunc(seconds)}` +
        (options.metadataLock ? `, lock_wait_timeout = ${Math.trunc(seconds)}` : '') +
        (options.idleSeconds === null ? '' : `, idle_transaction_timeout = ${Math.trunc(options.idleSeconds)}`),
    ),
  /**
   * writeTimeouts undone (the server's defaults again) before the repair session goes back to the
   * pool, whose next user (the final reread) must not wait on a metadata lock for only the repair's
   * seconds: the pool runs its session set-up on it again (metadataLockWait; db/applier.ts close).
   */
  writeDefaults: (options: { metadataLock: boolean; idle: boolean }) =>
    tag(
      'SET SESSION innodb_lock_wait_timeout = DEFAULT' +
        (options.metadataLock ? ', lock_wait_timeout = DEFAULT' : '') +
        (options.idle ? ', idle_transaction_timeout = DEFAULT' : ''),
    ),
  /** What the last statement warned about: read after the counters' UPDATE warned (RepairSession.writeCounters). */
  showWarnings: tag('SHOW WARNINGS'),
  begin: tag('START TRANSACTION'),
  commit: tag('COMMIT'),
  rollback: tag('ROLLBACK'),
  /** One snapshot for several statements: the final reread. */
  repeatableReadNext: tag('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ'),
  beginSnapshot: tag('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY'),
  /**
   * A page's snapshot (db/scanner.ts comparePackedPage): InnoDB takes it at the first read, so on
   * Galera the read's causal wait (wsrep_sync_wait) comes before it.
   */
  beginReadOnly: tag('START TRANSACTION READ ONLY'),
  packedMaxBytes: (bytes: number) => tag(`SET SESSION group_concat_max_len = ${Math.trunc(bytes)}`),
};

// What inspector.ts reads of the server.
export const inspectSql = {
  /** What every MySQL-compatible server answers, vtgate and TiDB included. */
  server: tag('SELECT VERSION() AS version, @@version_comment AS versionComment'),
  /** Only the variables the server has come back: one statement for every engine (db/engine.ts). */
  variables: (names: readonly string[]) => tag(`SHOW VARIABLES WHERE Variable_name IN (${names.map(literal).join(', ')})`),
  /** The wsrep (Galera) cluster status of this node. */
  status: (names: readonly string[]) => tag(`SHOW STATUS WHERE Variable_name IN (${names.map(literal).join(', ')})`),
  /** Group Replication members (MySQL 8): ONLINE ones and the PRIMARY ones among them. */
  groupMembers: tag(
    "SELECT COUNT(*) AS online, COALESCE(SUM(MEMBER_ROLE = 'PRIMARY'), 0) AS primaries FROM performance_schema.replication_group_members WHERE MEMBER_STATE = 'ONLINE'",
  ),
  columns: (tables: readonly string[]) =>
    tag(
      'SELECT TABLE_NAME AS tableName, COLUMN_NAME AS columnName, EXTRA AS extra, DATA_TYPE AS dataType, NUMERIC_SCALE AS numericScale, ' +
        'NUMERIC_PRECISION AS numericPrecision, COLUMN_TYPE AS columnType FROM information_schema.COLUMNS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')})`,
    ),
  /** The connection's collation (a filter's illegal mix of collations names it: inspector.ts collationHint). */
  connectionCollation: tag('SELECT @@collation_connection AS collation'),
  /** The names of every index of these tables. */
  indexNames: (tables: readonly string[]) =>
    tag(
      'SELECT DISTINCT TABLE_NAME AS tableName, INDEX_NAME AS indexName FROM information_schema.STATISTICS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')})`,
    ),
  /** How the server would read a short range of a counter's keys (a view's: through its table's index or not). */
  explainKeyRange: (counter: CounterDefinition) =>
    tag(`EXPLAIN SELECT 1 FROM ${ident(counter.table)} WHERE ${ident(counter.foreignKey)} ${counter.keyIsText === true ? "IN ('1', '2')" : 'BETWEEN 1 AND 2'}`),
  /** The BEFORE UPDATE triggers of a table, those the account is shown (engine.ts listsTriggersToWriters; core/repair.ts ReadBack). */
  beforeUpdateTriggers: (table: string) =>
    tag(
      'SELECT COUNT(*) AS n FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() ' +
        `AND EVENT_OBJECT_TABLE = ${literal(table)} AND EVENT_MANIPULATION = 'UPDATE' AND ACTION_TIMING = 'BEFORE'`,
    ),
  /** These tables' types (BASE TABLE, VIEW, SYSTEM VERSIONED). */
  tableTypes: (tables: readonly string[]) =>
    tag(`SELECT TABLE_NAME AS tableName, TABLE_TYPE AS tableType FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')})`),
  /**
   * A text settings id that is no whole number written in digits ('0000012C-…', '010', 'x'; '-5' is
   * one, as db/rows.ts reads ids), the first found; no row: none. Reads the ids until it finds one:
   * where there is none, every id (by the smallest index that holds them).
   */
  nonIntegerId: (model: CounterModel) =>
    tag(`SELECT ${ident(model.settings.id)} AS id FROM ${ident(model.settings.table)} WHERE ${ident(model.settings.id)} NOT REGEXP '^(0|-?[1-9][0-9]*)$' LIMIT 1`),
  /** A view's definition as the server keeps it (names written `db`.`table`; empty to an account without SHOW VIEW). */
  viewDefinition: (schema: string, view: string) =>
    tag(`SELECT VIEW_DEFINITION AS definition FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${literal(schema)} AND TABLE_NAME = ${literal(view)}`),
  /**
   * Of these tables (schema, table), those whose storage engine has no transactions (MyISAM, Aria,
   * MEMORY: ENGINES says NO), and the views among them (no engine: inspector.ts looks through them).
   */
  nonTransactionalIn: (tables: readonly { schema: string; table: string }[]) =>
    tag(
      'SELECT t.TABLE_SCHEMA AS tableSchema, t.TABLE_NAME AS tableName, t.ENGINE AS engine, t.TABLE_TYPE AS tableType FROM information_schema.TABLES t ' +
        'LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE ' +
        `WHERE (t.TABLE_SCHEMA, t.TABLE_NAME) IN (${tables.map(({ schema, table }) => `(${literal(schema)}, ${literal(table)})`).join(', ')}) AND (e.TRANSACTIONS = 'NO' OR t.TABLE_TYPE = 'VIEW')`,
    ),
  /** First columns of every index of these tables. */
  leadingIndexColumns: (tables: readonly string[]) =>
    tag(
      'SELECT DISTINCT TABLE_NAME AS tableName, COLUMN_NAME AS columnName FROM information_schema.STATISTICS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${tables.map(literal).join(', ')}) AND SEQ_IN_INDEX = 1`,
    ),
  /**
   * A table's type (BASE TABLE, VIEW, SYSTEM VERSIONED) and the first column of each of its unique
   * indexes, PRIMARY KEY included (one row with columnName NULL when it has none).
   */
  uniqueLeadingColumns: (table: string) =>
    tag(
      'SELECT t.TABLE_TYPE AS tableType, s.COLUMN_NAME AS columnName FROM information_schema.TABLES t ' +
        'LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = t.TABLE_SCHEMA AND s.TABLE_NAME = t.TABLE_NAME AND s.NON_UNIQUE = 0 AND s.SEQ_IN_INDEX = 1 ' +
        `WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = ${literal(table)}`,
    ),
  /** The longest counter name the audit table's counterName holds (no row: no such table or column). */
  auditCounterNameLength: (table: string) =>
    tag(
      'SELECT CHARACTER_MAXIMUM_LENGTH AS n FROM information_schema.COLUMNS ' +
        `WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${literal(table)} AND COLUMN_NAME = 'counterName'`,
    ),
  tableExists: (table: string) =>
    tag(`SELECT TABLE_NAME AS tableName FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${literal(table)}`),
  /** The connections an account may hold at once, server-wide (0: no limit). */
  maxUserConnections: tag('SELECT @@max_user_connections AS n'),
  /** The account's own grants; MariaDB writes its MAX_USER_CONNECTIONS there (MySQL 8 does not). */
  ownGrants: tag('SHOW GRANTS'),
  /**
   * CREATE granted to the matched account globally, on this database, or on `table` itself (a
   * table-level grant made before the table exists: GRANT CREATE, INSERT ON db.coupon_audit_log).
   * GRANTEE is 'user'@'host'.
   */
  /**
   * Rows where the grants show `privilege` on a table (one not made yet: nothing to probe): global,
   * the database's, the table's own. Names compared as the server does where names are case
   * sensitive (BINARY: information_schema's collation is not); where they are not, a grant the
   * comparison misses is only a grant not shown, which repair then tries (run.ts makeAuditTableEarly).
   */
  tableGrants: (privilege: 'CREATE' | 'INSERT', database: string, table: string) => {
    const grantee = "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";
    return tag(
      `SELECT 1 FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = '${privilege}' AND GRANTEE = ${grantee} ` +
        `UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = '${privilege}' AND GRANTEE = ${grantee} ` +
        `AND ${literal(database)} LIKE BINARY TABLE_SCHEMA ` +
        `UNION ALL SELECT 1 FROM information_schema.TABLE_PRIVILEGES WHERE PRIVILEGE_TYPE = '${privilege}' AND GRANTEE = ${grantee} ` +
        `AND TABLE_SCHEMA = BINARY ${literal(database)} AND TABLE_NAME = BINARY ${literal(table)}`,
    );
  },
  /** The account the server matched, 'user@host' (its host may be a pattern: '10.0.%'). */
  currentUser: tag('SELECT CURRENT_USER() AS account'),
};

/**
 * Statements that touch no row but are checked by the server as the real ones would be: names,
 * privileges and (for a counter's filter) that the expression compiles. The server resolves every
 * name and privilege before it sees that no row can match.
 */
export const probeSql = {
  selectTable: (table: string) => tag(`SELECT 1 FROM ${ident(table)} LIMIT 0`),
  selectSettings: (scope: AuditScope) => tag(`SELECT ${settingColumns(scope)} FROM ${ident(scope.model.settings.table)} s LIMIT 0`),
  /** A counter's child table, key and filter, as detection and repair read them. */
  counter: (counter: CounterDefinition) =>
    tag(
      `SELECT ${ident(counter.foreignKey)} FROM ${ident(counter.table)}` +
        `${counter.where === null ? '' : ` WHERE (${counter.where})`} LIMIT 0`,
    ),
  /**
   * The columns repair's UPDATE assigns (writeCountersSql): the counters, and the `preserved`
   * ON UPDATE columns it assigns to themselves, which a grant of UPDATE on the counters' columns
   * alone does not cover.
   */
  updateCounters: (scope: AuditScope, preserved: readonly string[] = []) =>
    tag(
      `UPDATE ${ident(scope.model.settings.table)} SET ${[...scope.counters.map((c) => c.name), ...preserved].map((name) => `${ident(name)} = ${ident(name)}`).join(', ')} WHERE 1 = 0`,
    ),
  insertAudit: (table: string) =>
    tag(`INSERT INTO ${ident(table)} (runId, settingId, counterName, newValue) SELECT '', 0, '', 0 FROM DUAL WHERE 1 = 0`),
  /** One column's UPDATE, where the grants refuse updateCounters: which columns a column-level grant left out. */
  updateColumn: (table: string, column: string) => tag(`UPDATE ${ident(table)} SET ${ident(column)} = ${ident(column)} WHERE 1 = 0`),
};

export const runLockSql = {
  get: (name: string, waitSeconds: number) => tag(`SELECT GET_LOCK(${literal(name)}, ${waitSeconds}) AS got`),
  release: (name: string) => tag(`SELECT RELEASE_LOCK(${literal(name)})`),
  holder: (name: string) => tag(`SELECT IS_USED_LOCK(${literal(name)}) AS holder`),
  /** Visible only with the PROCESS privilege (or to the same user). */
  describe: (connectionId: bigint) =>
    tag(`SELECT USER AS user, HOST AS host FROM information_schema.PROCESSLIST WHERE ID = ${connectionId}`),
  waitTimeout: tag('SELECT @@SESSION.wait_timeout AS seconds'),
  /** Keeps the lock's idle connection inside wait_timeout. */
  keepAlive: tag('SELECT 1'),
};

/** The lease row's fields, as the tool writes them. */
export interface LeaseRow {
  /** The lock's name (RunLock.lockName). */
  name: string;
  /** The run id of the repair that holds it: only it may renew or release it. */
  owner: string;
  /** Who holds it, for the message of the repair that finds it taken. */
  holder: string;
}

/**
 * The run lock where GET_LOCK is per node (Galera, Group Replication): a lease row in a small table
 * of the tool's own. Every statement is one autocommit write, so it certifies cluster-wide: of two
 * repairs that take it at once through two nodes, one commit fails (a deadlock error) or finds
 * the row. Times are the server's UTC clock, to the millisecond; a lease not renewed for `ttl`
 * seconds (the process died) may be taken over.
 */
export const leaseSql = {
  createTable: (table: string) =>
    tag(
      `CREATE TABLE IF NOT EXISTS ${ident(table)} (` +
        'name VARCHAR(64) NOT NULL, owner CHAR(36) NOT NULL, holder VARCHAR(255) NOT NULL, ' +
        'acquiredAt DATETIME(3) NOT NULL, heartbeatAt DATETIME(3) NOT NULL, expiresAt DATETIME(3) NOT NULL, ' +
        "PRIMARY KEY (name)) ENGINE = InnoDB COMMENT = 'coupon-audit run lock: the repair that holds each database'",
    ),
  /** Takes a free lease: one row inserted, or none when the name is taken. */
  insert: (table: string, row: LeaseRow, ttlSeconds: number) =>
    tag(
      `INSERT IGNORE INTO ${ident(table)} (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) ` +
        `VALUES (${literal(row.name)}, ${literal(row.owner)}, ${literal(row.holder.slice(0, 255))}, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), ` +
        `UTC_TIMESTAMP(3) + INTERVAL ${Math.trunc(ttlSeconds)} SECOND)`,
    ),
  /** Takes over an expired lease (its holder died or lost its connection): one row changed, or none. */
  takeOver: (table: string, row: LeaseRow, ttlSeconds: number) =>
    tag(
      `UPDATE ${ident(table)} SET owner = ${literal(row.owner)}, holder = ${literal(row.holder.slice(0, 255))}, ` +
        `acquiredAt = UTC_TIMESTAMP(3), heartbeatAt = UTC_TIMESTAMP(3), expiresAt = UTC_TIMESTAMP(3) + INTERVAL ${Math.trunc(ttlSeconds)} SECOND ` +
        `WHERE name = ${literal(row.name)} AND expiresAt < UTC_TIMESTAMP(3)`,
    ),
  /**
   * Renews the lease while this run owns it: one row, or none when it was taken over. Also sent
   * inside every repair transaction (the fence): a batch commits only while the lease is its run's.
   */
  renew: (table: string, name: string, owner: string, ttlSeconds: number) =>
    tag(
      `UPDATE ${ident(table)} SET heartbeatAt = UTC_TIMESTAMP(3), expiresAt = UTC_TIMESTAMP(3) + INTERVAL ${Math.trunc(ttlSeconds)} SECOND ` +
        `WHERE name = ${literal(name)} AND owner = ${literal(owner)}`,
    ),
  /** Who holds it, since when, and for how long yet (ms, by the server's clock). */
  holder: (table: string, name: string) =>
    tag(
      'SELECT owner, holder, TIMESTAMPDIFF(MICROSECOND, acquiredAt, UTC_TIMESTAMP(3)) DIV 1000 AS heldMs, ' +
        'TIMESTAMPDIFF(MICROSECOND, heartbeatAt, UTC_TIMESTAMP(3)) DIV 1000 AS renewedMsAgo, ' +
        `TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expiresAt) DIV 1000 AS expiresInMs FROM ${ident(table)} WHERE name = ${literal(name)}`,
    ),
  release: (table: string, name: string, owner: string) => tag(`DELETE FROM ${ident(table)} WHERE name = ${literal(name)} AND owner = ${literal(owner)}`),
  /** The writes the lease needs, probed without touching a row (privileges). */
  probes: (table: string) => ({
    insert: tag(`INSERT INTO ${ident(table)} (name, owner, holder, acquiredAt, heartbeatAt, expiresAt) SELECT '', '', '', NOW(), NOW(), NOW() FROM DUAL WHERE 1 = 0`),
    update: tag(`UPDATE ${ident(table)} SET heartbeatAt = heartbeatAt WHERE 1 = 0`),
    delete: tag(`DELETE FROM ${ident(table)} WHERE 1 = 0`),
  }),
};

/** Session settings an engine profile asks for (db/engine.ts). */
export const engineSql = {
  /** Galera: reads wait until this node has applied every write set the cluster ordered before them. */
  wsrepCausalReads: tag('SET SESSION wsrep_sync_wait = @@SESSION.wsrep_sync_wait | 1'),
  /** Group Replication: reads wait for every transaction the group committed before them. */
  groupReplicationCausalReads: tag("SET SESSION group_replication_consistency = 'BEFORE'"),
  /** TiDB: READ COMMITTED and FOR UPDATE locks need pessimistic transactions. */
  tidbPessimistic: tag("SET SESSION tidb_txn_mode = 'pessimistic'"),
};

/** CREATE INDEX for a counter's child table (doctor and the no-index warning print it). */
export function createIndexSql(counter: CounterDefinition, taken: ReadonlySet<string> = new Set()): string {
  return `CREATE INDEX ${ident(indexName(counter, taken))} ON ${ident(counter.table)} (${ident(counter.foreignKey)});`;
}

/**
 * createIndexSql's index name: one the table's indexes do not have already (`taken`, lower-cased:
 * index names are case-insensitive), or the statement fails with 1061 when pasted: idx_t_k,
 * idx_t_k_2, … within 64 characters.
 */
export function indexName(counter: CounterDefinition, taken: ReadonlySet<string> = new Set()): string {
  const base = `idx_${counter.table}_${counter.foreignKey}`.slice(0, 64);
  let name = base;
  for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base.slice(0, 64 - String(n).length - 1)}_${n}`;
  return name;
}

/** One change of `repair --emit-sql`: a counter of a setting, the value detection saw, the value to write. */
export interface ScriptChange {
  settingId: bigint;
  counter: string;
  from: bigint | null;
  to: bigint;
}

/**
 * A setting's guarded changes for a person to run, in one statement: each counter is written `to`
 * only while it still holds `from` (NULL-safe `<=>`), so a second run, or a run after the
 * application moved a counter, changes nothing of it. One statement for all of a setting's
 * counters, as repair writes them: a CHECK (usedCount <= issuedCount) judges the row with both new
 * values (a trial's script, a counter per statement, was refused at the first of a pair). One
 * counter: `SET c = to WHERE … AND c <=> from`; several: each `c = IF(c <=> from, to, c)`, the row
 * taken while any guard holds. `preserved` columns (ON UPDATE CURRENT_TIMESTAMP) keep their value,
 * as repair's writes do.
 */
export function guardedUpdateSql(model: CounterModel, changes: readonly ScriptChange[], preserved: readonly string[]): string {
  const [first] = changes;
  if (first === undefined || changes.some((change) => change.settingId !== first.settingId)) {
    throw new InternalError('guardedUpdateSql: the changes of one setting, at least one');
  }
  const guard = (change: ScriptChange): string => `${ident(change.counter)} <=> ${value(change.from)}`;
  const assignments = [
    ...changes.map((change) =>
      changes.length === 1 ? `${ident(change.counter)} = ${value(change.to)}` : `${ident(change.counter)} = IF(${guard(change)}, ${value(change.to)}, ${ident(change.counter)})`,
    ),
    ...preserved.map((name) => `${ident(name)} = ${ident(name)}`),
  ];
  const guards = changes.length === 1 ? guard(first) : `(${changes.map(guard).join(' OR ')})`;
  return tag(`UPDATE ${ident(model.settings.table)} SET ${assignments.join(', ')} WHERE ${ident(model.settings.id)} = ${idList([first.settingId], model.settings.idIsText)} AND ${guards};`);
}

/** `changes` grouped by setting, in their order: the statements of a change script (guardedUpdateSql). */
export function changesBySetting(changes: readonly ScriptChange[]): ScriptChange[][] {
  const groups = new Map<bigint, ScriptChange[]>();
  for (const change of changes) {
    const group = groups.get(change.settingId);
    if (group === undefined) groups.set(change.settingId, [change]);
    else group.push(change);
  }
  return [...groups.values()];
}

export interface ScriptHeader {
  /** The database the statements are for. */
  database: string;
  /** Where detection read it: user@host:port/db (no password). */
  target: string;
  generatedAt: Date;
  toolVersion: string;
  scanned: number;
  /** The file it is written to, for the "how to apply" line. */
  file?: string;
  /** What detection warned of (core/drift.ts foreignKeyDoubts: a counter that counted nothing), for whoever reviews the file. */
  warnings?: readonly string[];
}

/**
 * Text for a `--` comment line: a line break in it (a config's filter, a file name) would end the
 * comment, and what follows would run where the file is fed to a client (a trial's filter carried
 * a CREATE TABLE into `sql`'s output).
 */
export function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/**
 * `repair --emit-sql FILE`: change-control SQL a DBA reviews and runs by hand, one guarded UPDATE
 * per change, after a header naming the database, the time and the tool version.
 */
export function changeScriptSql(model: CounterModel, changes: readonly ScriptChange[], header: ScriptHeader, preserved: readonly string[]): string {
  const settings = new Set(changes.map((change) => change.settingId)).size;
  const lines = [
    `-- coupon-audit ${oneLine(header.toolVersion)}: change-control SQL (repair --emit-sql); nothing has been applied.`,
    `-- database: ${oneLine(header.database)} (read as ${oneLine(header.target)})`,
    `-- generated: ${header.generatedAt.toISOString()}, from one detection that scanned ${header.scanned} setting${header.scanned === 1 ? '' : 's'}`,
    `-- changes: ${changes.length} counter${changes.length === 1 ? '' : 's'} of ${settings} setting${settings === 1 ? '' : 's'} in ${oneLine(model.settings.table)}, one UPDATE per setting`,
    '--',
    '-- Each UPDATE writes a count detection found only while its counter still holds the value',
    '-- detection saw (<=>, NULL-safe). A guard that no longer matches changes nothing: running this',
    '-- twice, or after the application moved on, is harmless (a counter that moved stays as it is;',
    '-- the next check shows it). Unlike `coupon-audit repair` there is no run lock, no recount under',
    '-- a row lock and no audit table: run it on a quiet database or in a change window, e.g.',
    `--   mariadb ${oneLine(header.database)} < ${oneLine(header.file ?? 'this-file.sql')}`,
    ...(header.warnings ?? []).flatMap((warning) => ['--', `-- WARNING: ${oneLine(warning)}`]),
    '',
  ];
  if (changes.length === 0) lines.push('-- No drift: nothing to change.');
  for (const group of changesBySetting(changes)) lines.push(guardedUpdateSql(model, group, preserved));
  return `${lines.join('\n')}\n`;
}

/**
 * What the throttler and the replica watch read (db/replication.ts, core/throttle.ts). Status
 * variable names are checked by the option parser (letters, digits, `_`) and quoted here anyway.
 */
export const loadSql = {
  /** SHOW GLOBAL STATUS answers the same on MySQL and MariaDB, with no privilege. */
  status: (variables: readonly string[]) => tag(`SHOW GLOBAL STATUS WHERE Variable_name IN (${variables.map(literal).join(', ')})`),
  /** InnoDB's row estimate of a table: cheap (no scan), for the progress line's total. */
  tableRows: (table: string) =>
    tag(`SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${literal(table)}`),
};

/** Replication statements, one spelling per engine; replication.ts picks them by capability. */
export const replicationSql = {
  /** MariaDB: every transaction in the primary's binary log so far (one GTID per domain). */
  mariadbPrimaryPosition: tag('SELECT @@GLOBAL.gtid_binlog_pos AS position, @@GLOBAL.log_bin AS logBin'),
  /** MySQL: the executed GTID set, which is empty (and useless) unless gtid_mode=ON. */
  mysqlPrimaryPosition: tag('SELECT @@GLOBAL.gtid_executed AS position, @@GLOBAL.log_bin AS logBin, @@GLOBAL.gtid_mode AS gtidMode'),
  /** Returns 0 once the replica's gtid_slave_pos has reached `position`, -1 on timeout. */
  mariadbWait: (position: string, timeoutSeconds: number) =>
    tag(`SELECT MASTER_GTID_WAIT(${literal(position)}, ${seconds(timeoutSeconds)}) AS waited`),
  /** Returns 0 once the replica has executed the set, 1 on timeout. */
  mysqlWait: (position: string, timeoutSeconds: number) =>
    tag(`SELECT WAIT_FOR_EXECUTED_GTID_SET(${literal(position)}, ${Math.max(1, Math.ceil(timeoutSeconds))}) AS waited`),
  /** MariaDB: the last transaction of each domain the replica's SQL thread applied. */
  mariadbAppliedPosition: tag('SELECT @@GLOBAL.gtid_slave_pos AS position'),
  slaveStatus: tag('SHOW SLAVE STATUS'),
  /** MySQL 8.0.22+ spelling (Replica_*, Seconds_Behind_Source). */
  replicaStatus: tag('SHOW REPLICA STATUS'),
};

/** A timeout in seconds as a literal: at most 3 decimals, never negative (a negative one waits forever). */
function seconds(value: number): string {
  return String(Math.max(0.001, Math.round(value * 1000) / 1000));
}
