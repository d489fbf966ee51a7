import { compareSetting, type DriftedSetting } from '../core/drift.js';
import type { AuditScope, CounterModel } from '../core/model.js';
import { comparePageSql, loadSql, nullKeyCountSql, pageBoundarySql, sessionSql } from './builder.js';
import type { Database, Row, Session } from './database.js';
import { toDatabaseError } from './database-error.js';
import { type IdScope, toBigInt, toBigIntOrNull } from './rows.js';

/** The detection reads: page boundaries and the one-statement comparison of a page. */

export interface PageResult {
  /** Settings audited in the page. */
  scanned: number;
  drifted: DriftedSetting[];
  /** Ids of the settings that exist among the page's rows (all of them when not `onlyDrifted`). */
  found: bigint[];
  /** Per counter (scope order): child rows whose setting id names no setting. */
  orphans: bigint[];
}

/** The last id of the page after `after` holding `size` settings; null when the rest fits in one page. */
export async function pageBoundary(db: Database, model: CounterModel, after: bigint | null, size: number): Promise<bigint | null> {
  const [row] = await db.query(pageBoundarySql(model, after, size), `reading ${model.settings.table}`);
  return row === undefined ? null : toBigInt(row['id']);
}

/** One page compared in one statement (one snapshot); see comparePageSql. */
export async function comparePage(
  db: Database | Session,
  scope: AuditScope,
  ids: IdScope,
  options: { onlyDrifted: boolean },
): Promise<PageResult> {
  const sql = comparePageSql(scope, ids, options);
  const rows = 'config' in db ? await db.query(sql, `comparing ${scope.model.settings.table} with its counts`) : await db.query(sql);
  return readPage(rows, scope);
}

export function readPage(rows: readonly Row[], scope: AuditScope): PageResult {
  const n = scope.counters.length;
  const result: PageResult = { scanned: 0, drifted: [], found: [], orphans: new Array(n).fill(0n) };
  for (const row of rows) {
    if (row['id'] === null) {
      // The WITH ROLLUP row: the page's totals.
      result.scanned = Number(row['audited'] ?? 0);
      continue;
    }
    const id = toBigInt(row['id']);
    if (Number(row['known']) === 0) {
      scope.counters.forEach((_, i) => (result.orphans[i]! += toBigIntOrNull(row[`actual${i}`]) ?? 0n));
      continue;
    }
    result.found.push(id);
    const cached: Record<string, bigint | null> = {};
    const actual = new Map<string, bigint>();
    scope.counters.forEach((counter, i) => {
      cached[counter.name] = toBigIntOrNull(row[`cached${i}`]);
      actual.set(counter.name, toBigIntOrNull(row[`actual${i}`]) ?? 0n);
    });
    const drifted = compareSetting({ id, status: row['status'] == null ? null : String(row['status']), cached }, actual, scope);
    if (drifted !== null) result.drifted.push(drifted);
  }
  return result;
}

/** Child rows whose key is NULL, per counter (scope order): never any setting's, reported apart. */
export async function nullKeyCounts(db: Database, scope: AuditScope): Promise<bigint[]> {
  const counts: bigint[] = [];
  for (const counter of scope.counters) {
    const [row] = await db.query(nullKeyCountSql(counter), `counting ${counter.table} rows with no ${counter.foreignKey}`);
    counts.push(toBigInt(row?.['n'] ?? 0));
  }
  return counts;
}

/**
 * Compares these settings inside ONE consistent snapshot (REPEATABLE READ, WITH CONSISTENT
 * SNAPSHOT), in chunks: repair's final reread of everything it touched.
 */
export async function compareInOneSnapshot(
  db: Database,
  scope: AuditScope,
  ids: readonly bigint[],
  chunk: number,
  context = 'rereading the repaired settings',
): Promise<PageResult> {
  const total: PageResult = { scanned: 0, drifted: [], found: [], orphans: [] };
  if (ids.length === 0) return total;
  const session = await db.session(context);
  let healthy = false;
  try {
    await session.query(sessionSql.repeatableReadNext);
    await session.query(sessionSql.beginSnapshot);
    for (let start = 0; start < ids.length; start += chunk) {
      const page = await comparePage(session, scope, { kind: 'ids', ids: ids.slice(start, start + chunk) }, { onlyDrifted: false });
      total.scanned += page.scanned;
      total.drifted.push(...page.drifted);
      total.found.push(...page.found);
    }
    await session.query(sessionSql.commit);
    healthy = true;
  } catch (error) {
    throw toDatabaseError(error, db.config, context);
  } finally {
    if (healthy) session.release();
    else session.destroy();
  }
  return total;
}

/** InnoDB's estimate of a table's rows (information_schema.TABLES.TABLE_ROWS): no scan; null when not shown. */
export async function estimateRows(db: Database, table: string): Promise<number | null> {
  const [row] = await db.query(loadSql.tableRows(table), 'reading information_schema');
  const estimate = row?.['estimate'];
  return estimate == null ? null : Number(estimate);
}
