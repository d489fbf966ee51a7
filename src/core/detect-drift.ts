import type { Database } from '../db/database.js';
import { abortReason, DatabaseError } from '../errors.js';
import { DEFAULT_PAGE_SIZE, PAGE_SIZE_RANGE } from './limits.js';
export { DEFAULT_PAGE_SIZE, PAGE_SIZE_RANGE };
import { createIndexFixes, unindexedCounters } from '../db/inspector.js';
import { type IdScope, compareIds } from '../db/rows.js';
import { type BranchForm, childBranches, filterCheckSql } from '../db/builder.js';
import { type BranchShape, comparePackedPage, comparePage, lastId, nullKeyCounts, pageBoundary, pageIds, type PageResult } from '../db/scanner.js';
import { isDriverError, isInfrastructureError, isServerError, toDatabaseError } from '../db/database-error.js';
import { ConfigError } from './config.js';
import { BatchSizer } from './batch-sizer.js';
import type { DriftedSetting } from './drift.js';
import type { AuditScope, CounterDefinition } from './model.js';

export interface DetectOptions<T extends { id: bigint } = DriftedSetting> {
  scope: AuditScope;
  /**
   * What the report keeps of each drifted setting (default: all of it). A repair that shows no plan
   * keeps the id alone: the counters of 50,000 drifted settings are about 18 MB, held until the end.
   */
  keep?: ((setting: DriftedSetting) => T) | undefined;
  /** Restrict the audit to these setting ids (--ids). */
  ids?: readonly bigint[] | undefined;
  /** A fixed page size (--page-size); undefined sizes pages toward `targetStatementMs`. */
  pageSize?: number | undefined;
  /** Pages compared at once, each on its own connection. */
  concurrency?: number | undefined;
  targetStatementMs?: number | undefined;
  /** Checked between pages: an aborted scan rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Awaited before each page (core/throttle.ts): resolves when the next page may start. */
  throttle?: (() => Promise<void>) | undefined;
  onProgress?: ((progress: DetectProgress) => void) | undefined;
  onStatement?: ((timing: StatementTiming) => void) | undefined;
  /**
   * Called once, before a full scan, with the counters whose child table has no index starting
   * with the counter's key: the scan is then one statement over the whole tables (each read once)
   * instead of a statement per page that would read them whole every time.
   */
  /** Counters whose key no index starts with, each with the CREATE INDEX that fixes it. */
  onUnindexed?: ((counters: CounterDefinition[], fixes: ReadonlyMap<CounterDefinition, string>) => void) | undefined;
}

export interface DetectProgress {
  scanned: number;
  drifted: number;
  /** Since the scan started. */
  elapsedMs: number;
}

export interface StatementTiming {
  what: string;
  rows: number;
  ms: number;
}

export interface OrphanCount {
  counter: string;
  table: string;
  /** Child rows whose setting id names no setting. */
  rows: bigint;
  /** Child rows whose setting id is NULL (no setting at all), reported apart. */
  nullSettingId: bigint;
  /**
   * Whether some child row counted names a setting; null when a page did not say. false with
   * orphans: no child row names a setting, the foreignKey is likely the wrong column (foreignKeyDoubts).
   */
  namesSettings: boolean | null;
}

export interface DriftReport<T extends { id: bigint } = DriftedSetting> {
  scanned: number;
  drifted: T[];
  /** Per audited counter; null when --ids restricted the run (orphans are found only by a full scan). */
  orphans: OrphanCount[] | null;
  /** --ids that name no setting. */
  missingIds: bigint[];
  /** --ids that name a DELETED setting, which --deleted skip left out (not in `scanned`). */
  skippedIds: bigint[];
  /**
   * Per counter whose column's largest value (model.ts cacheMax) some drifted setting's count is
   * past: how many such settings, and the first few (id, count). Repair leaves them (core/repair.ts).
   */
  unfit?: UnfitCounts[];
  /**
   * Set when the scan read a replica (--replica-url): `drifted` holds what the primary confirmed;
   * `unconfirmed` what the replica alone showed drifted (the primary had moved on, or the replica's
   * data differs from the primary's).
   */
  replica?: { name: string; unconfirmed: bigint[] } | undefined;
}

export interface UnfitCounts {
  counter: string;
  max: bigint;
  settings: number;
  first: { id: bigint; count: bigint }[];
}

/** How many (id, count) pairs UnfitCounts keeps: a migration that broke a narrow column everywhere names a few. */
const UNFIT_KEPT = 5;

/** The drifted settings drift.ts compareSetting marked unfit, counted per counter as they come: the lowest ids kept, whatever order pages end in. */
export class UnfitTally {
  private readonly byCounter = new Map<string, UnfitCounts>();

  constructor(private readonly scope: AuditScope) {}

  add(setting: DriftedSetting): void {
    for (const name of setting.unfit ?? []) {
      const counter = this.scope.counters.find((one) => one.name === name);
      if (counter?.cacheMax === undefined) continue;
      const entry = this.byCounter.get(name) ?? { counter: name, max: counter.cacheMax, settings: 0, first: [] };
      entry.settings += 1;
      entry.first.push({ id: setting.id, count: setting.counters[name]!.expected });
      entry.first.sort((a, b) => compareIds(a.id, b.id));
      entry.first.length = Math.min(entry.first.length, UNFIT_KEPT);
      this.byCounter.set(name, entry);
    }
  }

  /** In scope order; undefined for none. */
  counts(): UnfitCounts[] | undefined {
    const all = this.scope.counters.flatMap((counter) => this.byCounter.get(counter.name) ?? []);
    return all.length > 0 ? all : undefined;
  }
}

/**
 * Adaptive pages start small and double while they are fast: counts are skewed (the first settings
 * often hold most of the codes), and one page that covers them would run alone while the other
 * connections idle.
 */
const INITIAL_PAGE_SIZE = 8;

/**
 * A child branch is sent a key per child row (db/builder.ts BranchForm 'rows') while the settings
 * with children in the last page read had at most this many each on average, else grouped. The
 * server's cost per page of 20,000 settings: about 0.08 µs per key against 0.23-0.33 µs per group
 * (so about even near 3-4 rows per group); the keys are more text for Node to read.
 */
export const ROWS_FORM_MAX_PER_GROUP = 3;

/**
 * A child branch is sent in the points form (db/builder.ts BranchForm 'points': an equality read
 * per setting) while the keys in the last page read (orphan keys too) had at least this many rows
 * each on average. Measured on the 5M bench, a page of 64 settings read by points against the same
 * read as a range: 3,000 codes a setting took 18 % less time, 1,000 uses a setting 4 % less, 450
 * codes a setting 27 % more (a point costs 11-13 µs, more than the rows it saves a test of).
 */
export const POINTS_FORM_MIN_PER_GROUP = 1500;

/**
 * The most points a page may have (its settings, or the ids of its range): a page of more settings
 * has fewer children each, where points do not pay (POINTS_FORM_MIN_PER_GROUP).
 */
export const MAX_POINTS = 128;

/**
 * The form of each child branch for the pages after the first ones (those are points), from what
 * the last page read held (its branches' shapes): see ROWS_FORM_MAX_PER_GROUP and
 * POINTS_FORM_MIN_PER_GROUP. A branch of several counters has no one count of rows (NaN) and is
 * grouped; one with no children at all is sent as rows (the same cost).
 */
export function branchForms(shapes: readonly BranchShape[]): BranchForm[] {
  return shapes.map(({ rows, groups }) =>
    rows <= ROWS_FORM_MAX_PER_GROUP * groups ? 'rows' : rows >= POINTS_FORM_MIN_PER_GROUP * groups ? 'points' : 'grouped',
  );
}

/**
 * The highest point a page may have: a text key is compared with a point as a double
 * (db/builder.ts pointConditions), and past 2^53 two ids can be one double, whose rows two points
 * would both count.
 */
const MAX_POINT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The points of the page (after, upTo] when it has at most MAX_POINTS ids, none past MAX_POINT:
 * each of them (settings or not; pointConditions counts what lies between). `last` stands for the
 * end of the last page (upTo null): ids above it, added since the scan began, are counted with the
 * rest of the range.
 */
export function rangePoints(after: bigint | null, upTo: bigint | null, last: bigint | null): bigint[] | undefined {
  const top = upTo ?? last;
  if (after === null || top === null || top <= after || top - after > BigInt(MAX_POINTS) || top > MAX_POINT) return undefined;
  const points: bigint[] = [];
  for (let id = after + 1n; id <= top; id++) points.push(id);
  return points;
}

/**
 * Finds every drifted setting. Pages through the settings by id ranges (nextPageEnd); each
 * page is compared inside one snapshot, on a connection of its own: the packed read of the page's
 * settings and counts (db/scanner.ts comparePackedPage), then the settings it found drifted read
 * again by key in the same transaction (compareCandidates); --ids chunks the same way. The
 * unindexed whole-table scan is the stacked statement (db/builder.ts comparePageSql) alone. Pages
 * run `concurrency` statements at a time, with the next page connected and waiting (TaskPool); ranges
 * are contiguous, so every child row is counted in one page.
 */
export async function detectDrift(db: Database, options: DetectOptions): Promise<DriftReport>;
export async function detectDrift<T extends { id: bigint }>(db: Database, options: DetectOptions<T> & { keep: (setting: DriftedSetting) => T }): Promise<DriftReport<T>>;
export async function detectDrift<T extends { id: bigint }>(db: Database, options: DetectOptions<T>): Promise<DriftReport<T>> {
  const { scope } = options;
  const keep = options.keep ?? ((setting: DriftedSetting) => setting as unknown as T);
  const sizer = new BatchSizer({
    initial: options.pageSize ?? INITIAL_PAGE_SIZE,
    min: options.pageSize ?? 4,
    max: options.pageSize ?? 20_000,
    targetMs: options.targetStatementMs ?? 300,
    adaptive: options.pageSize === undefined,
  });
  const totals = { scanned: 0, drifted: [] as T[], orphans: scope.counters.map(() => 0n), named: scope.counters.map((): boolean | null => false) };
  const unfit = new UnfitTally(scope);
  const missingIds: bigint[] = [];
  const skippedIds: bigint[] = [];
  const started = performance.now();

  /** One page: packed (its own snapshot), or the stacked statement alone (the unindexed whole-table scan). */
  const run = async (ids: IdScope, how: 'packed' | 'stacked', pageTurn: Turn, onRows?: (settings: number) => void, forms?: readonly BranchForm[]): Promise<PageResult> => {
    // A page prepared ahead waits for its turn; a stop asked for meanwhile ends it there.
    // Timed from its turn: the wait for one is not the page's cost (BatchSizer sizes by it).
    let pageStarted = performance.now();
    const turn: Turn = {
      take: async () => {
        await pageTurn.take();
        checkSignal();
        pageStarted = performance.now();
      },
      sent: () => pageTurn.sent(),
      done: () => pageTurn.done(),
    };
    const result = how === 'packed' ? await packedPage(db, scope, ids, turn, onRows, forms) : await stackedPage(db, scope, ids, turn);
    const ms = performance.now() - pageStarted;
    sizer.observe(Math.max(result.scanned, 1), ms);
    options.onStatement?.({ what: `compare ${describeScope(ids)}`, rows: result.drifted.length, ms });
    totals.scanned += result.scanned;
    for (const setting of result.drifted) {
      unfit.add(setting);
      totals.drifted.push(keep(setting));
    }
    result.orphans.forEach((count, i) => (totals.orphans[i]! += count));
    totals.named = totals.named.map((some, i) => (some === true || result.named?.[i] === true ? true : some === null || result.named === undefined ? null : false));
    options.onProgress?.({ scanned: totals.scanned, drifted: totals.drifted.length, elapsedMs: performance.now() - started });
    return result;
  };
  const checkSignal = (): void => {
    if (options.signal?.aborted) throw abortReason(options.signal);
  };
  /** Between pages: wait while throttled (a pause file, load, replica lag), then stop if asked to. */
  const nextPage = async (): Promise<void> => {
    checkSignal();
    await options.throttle?.();
    checkSignal();
  };

  const pool = new TaskPool(Math.max(1, options.concurrency ?? 1));
  try {
  if (options.ids !== undefined) {
    const ids = [...new Set(options.ids)].sort(compareIds);
    for (let start = 0; start < ids.length; ) {
      await nextPage();
      const chunk = ids.slice(start, start + Math.min(sizer.size, 5000));
      start += chunk.length;
      await pool.run(async (turn) => {
        const page = await run({ kind: 'ids', ids: chunk }, 'packed', turn);
        const found = new Set(page.found);
        missingIds.push(...chunk.filter((id) => !found.has(id)));
        skippedIds.push(...(page.skipped ?? []));
      });
    }
  } else {
    const unindexed = await unindexedCounters(db, scope);
    if (unindexed.length > 0) {
      if (options.onUnindexed !== undefined) options.onUnindexed(unindexed, await createIndexFixes(db, unindexed));
      await nextPage();
      await pool.run((turn) => run({ kind: 'range', after: null, upTo: null }, 'stacked', turn).then(() => undefined));
    } else {
      // Pages end by id arithmetic while the ids are dense (nextPageEnd), else where a boundary
      // read finds the `size`-th setting: that read walks `size` setting rows, most of the cost
      // of a page's settings again.
      const last = await lastId(db, scope.model);
      let density: number | null = null;
      // Until a page has shown how many children its settings have (branchForms): points, which
      // cost little where children are few, and the first settings of a skewed table have most.
      // Never for a text settings id: its ids come in text order ('1', '10', '2'), and points are
      // ascending ids of a numeric range (builder.ts pointConditions).
      const pointable = scope.model.settings.idIsText !== true;
      let forms: readonly BranchForm[] = childBranches(scope).map(() => (pointable ? 'points' : 'grouped'));
      let after: bigint | null = null;
      for (;;) {
        await nextPage();
        const end = nextPageEnd(after, sizer.size, density, last);
        // Taken once: a page that ends during the reads below changes `forms` for the page after.
        const chosen = forms;
        const wantsPoints = chosen.includes('points');
        let upTo: bigint | null;
        let points: readonly bigint[] | undefined;
        if (end !== 'read') {
          upTo = end;
          if (wantsPoints) points = rangePoints(after, upTo, last);
        } else if (wantsPoints && sizer.size <= MAX_POINTS) {
          // The same read as pageBoundary's, which reads the ids it walks past anyway. The size is
          // taken once: pages that end while the read is out resize the next (BatchSizer).
          const size = sizer.size;
          const ids = await pageIds(db, scope.model, after, size);
          upTo = ids.length < size ? null : ids[ids.length - 1]!;
          if (ids.length > 0 && ids[ids.length - 1]! <= MAX_POINT) points = ids;
        } else {
          upTo = await pageBoundary(db, scope.model, after, sizer.size);
        }
        const from = after;
        const pointed = points !== undefined && points.length > 0;
        const pageForms = pointed ? chosen : chosen.map((form) => (form === 'points' ? 'grouped' : form));
        await pool.run(async (turn) => {
          const result = await run(
            { kind: 'range', after: from, upTo, ...(pointed ? { points } : {}) },
            'packed',
            turn,
            (settings) => {
              if (from !== null && upTo !== null) density = settings / Number(upTo - from);
            },
            pageForms,
          );
          if (result.children !== undefined) forms = branchForms(result.children).map((form) => (form === 'points' && !pointable ? 'grouped' : form));
        });
        if (upTo === null) break;
        after = upTo;
      }
    }
  }
  } catch (error) {
    // Never leave a statement running on a connection the caller is about to close.
    await pool.drain().catch(() => undefined);
    throw error;
  }
  await pool.drain();
  const nullKeys = options.ids === undefined ? await nullKeyCounts(db, scope) : [];
  totals.drifted.sort((a, b) => compareIds(a.id, b.id));
  missingIds.sort(compareIds);
  skippedIds.sort(compareIds);
  return {
    scanned: totals.scanned,
    drifted: totals.drifted,
    orphans:
      options.ids === undefined
        ? scope.counters.map((counter, i) => ({ counter: counter.name, table: counter.table, rows: totals.orphans[i]!, nullSettingId: nullKeys[i]!, namesSettings: totals.named[i]! }))
        : null,
    missingIds,
    skippedIds,
    unfit: unfit.counts(),
  };
}

/**
 * Where the page after `after` ends, without reading the server while that is safe: `size`
 * settings at the density (settings per id) the last page had. Ids are unique integers, so a range
 * `width` ids wide holds at most `width` settings; at a density of 1/2 or more the width stays
 * within 2 × `size`, and so does the page, however the ids fall in it. Below that (a sparse stretch,
 * or no page measured yet) 'read': the boundary is read (pageBoundary). null: the rest, from
 * `after` up, is the last page (it reaches the highest id there was at the start, `last`; settings
 * added since with higher ids fall in it too).
 */
export function nextPageEnd(after: bigint | null, size: number, density: number | null, last: bigint | null): bigint | null | 'read' {
  if (after === null || density === null || !(density >= 0.5)) return 'read';
  if (last === null || after >= last) return null;
  const end = after + BigInt(Math.ceil(size / Math.min(density, 1)));
  return end >= last ? null : end;
}

/**
 * A page of the paged scan: the packed statement and its confirmation, on a connection of its own.
 * It takes its turn before its transaction begins and gives it back when the rows are in, then
 * waits until the page it passed the turn to has sent its statement: Node reads these rows while
 * the server runs that one. A page with many candidates takes a turn again for their reads.
 */
async function packedPage(
  db: Database,
  scope: AuditScope,
  ids: IdScope,
  turn: Turn,
  onRows?: (settings: number) => void,
  forms?: readonly BranchForm[],
): Promise<PageResult> {
  const context = `comparing ${scope.model.settings.table} with its counts`;
  const session = await db.session(context);
  try {
    const result = await comparePackedPage(session, scope, ids, {
      forms,
      beforeRead: () => turn.take(),
      sent: () => turn.sent(),
      afterRead: async (settings) => {
        onRows?.(settings);
        await turn.done();
      },
      // The stacked statement, or the reads of many candidates (as costly as the page's when every
      // setting drifted): statements like the first, so they wait for a turn too.
      beforeMore: async () => {
        await turn.take();
        turn.sent();
      },
    });
    session.release();
    return result;
  } catch (error) {
    session.destroy(); // mid-transaction, or its statement killed: never handed out again
    throw collationClash(scope, error) ?? (await failingFilter(db, scope, ids, error)) ?? toDatabaseError(error, db.config, context);
  }
}

/**
 * A page statement the server refused while running it: the schema probes compiled every filter
 * (db/inspector.ts schemaProblems), but a `where` can still fail on a value it meets (a subquery
 * that returns two rows for one code). Each counter's filter is run alone over the page's rows;
 * the first that fails as the page did is named (ConfigError, exit 2, as a filter that does not
 * compile). Null when the error is not of that kind or no filter fails alone.
 */
async function failingFilter(db: Database, scope: AuditScope, ids: IdScope, error: unknown): Promise<ConfigError | null> {
  if (!isServerError(error) || isInfrastructureError(error)) return null;
  for (const counter of scope.counters) {
    if (counter.where === null) continue;
    try {
      await db.tryQuery(filterCheckSql(counter, ids));
    } catch (alone) {
      if (!isDriverError(alone) || alone.errno !== error.errno) continue;
      return new ConfigError(
        `counter ${counter.name}: the filter "${counter.where}" fails on the server for a row of ${counter.table} (${describeSettings(ids)}): ` +
          `${alone.sqlMessage ?? alone.message}. Fix it in the config; nothing was written.`,
        { cause: error },
      );
    }
  }
  return null;
}

/**
 * The stacked statement (builder.ts comparePageSql) refused for text keys of different collations
 * (1267, 1270, 1271: "Illegal mix of collations"): it groups the settings' ids and every child
 * table's keys in one column, and which key is a setting's is that column's collation's call, so
 * two collations leave it no answer. The packed statement sends such keys apart (builder.ts
 * oneCollation); a page comes here where a key is not plain digits ('11 ', '011'), or where a
 * child table has no index on its key. A ConfigError (exit 2) saying what to do, or null.
 */
function collationClash(scope: AuditScope, error: unknown): ConfigError | null {
  // The stacked statement's UNION of the keys, not another comparison (a status column's, a filter's).
  if (!isServerError(error) || ![1267, 1270, 1271].includes(error.errno) || !/operation 'UNION'/i.test(error.sqlMessage ?? error.message)) return null;
  const model = scope.model;
  const idIsText = model.settings.idIsText === true;
  const keys = [...new Set(scope.counters.filter((counter) => counter.keyIsText === true).map((counter) => `${counter.table}.${counter.foreignKey}`))];
  const text = [...(idIsText ? [`${model.settings.table}.${model.settings.id}`] : []), ...keys];
  if (text.length < 2) return null;
  // Where the settings' id is one of them, no counter alone does without it.
  const oneAtATime = idIsText ? '' : `, or audit the counters one at a time (${scope.counters.map((counter) => `--columns ${counter.name}`).join(', then ')})`;
  return new ConfigError(
    `The text columns ${text.join(', ')} have different collations, and the server cannot compare their keys in one statement (${error.sqlMessage ?? error.message}). ` +
      `Give them one collation${oneAtATime}; nothing was written.`,
    { cause: error },
  );
}

/** The unindexed whole-table scan: the stacked statement alone, in its turn. */
async function stackedPage(db: Database, scope: AuditScope, ids: IdScope, turn: Turn): Promise<PageResult> {
  await turn.take();
  turn.sent();
  try {
    return await comparePage(db, scope, ids, { onlyDrifted: true });
  } catch (error) {
    // Database.query made it a DatabaseError; the server's own error is its cause.
    const cause = error instanceof DatabaseError ? error.cause : error;
    throw collationClash(scope, cause) ?? (await failingFilter(db, scope, ids, cause)) ?? error;
  } finally {
    turn.done();
  }
}

/** The settings a scope stands for, in words: 'settings 3, 7', 'settings 1 to 5000', 'any setting'. */
function describeSettings(scope: IdScope): string {
  if (scope.kind === 'ids') return `setting${scope.ids.length === 1 ? '' : 's'} ${scope.ids.slice(0, 5).join(', ')}${scope.ids.length > 5 ? ', …' : ''}`;
  const { after, upTo } = scope;
  if (after === null && upTo === null) return 'any setting';
  if (after === null) return `settings up to ${upTo}`;
  if (upTo === null) return `settings after ${after}`;
  return `settings ${after + 1n} to ${upTo}`;
}

function describeScope(scope: IdScope): string {
  if (scope.kind === 'ids') return `${scope.ids.length} ids`;
  return `(${scope.after ?? '-∞'}, ${scope.upTo ?? '+∞'}]`;
}

/**
 * Runs page tasks so that `limit` statements run on the server at once and the next page is ready
 * to start the moment one ends. A task takes its turn (`take`) when it is ready to send its
 * statement, says when it has sent it (`sent`), and gives the turn back (`done`) when the rows are
 * in, before Node reads them: the task waiting for the turn, already connected, begins its
 * transaction and sends its statement, and done() resolves once it has (at once when none waits),
 * so Node reads the rows while the server runs the next statement instead of idling through the
 * parse, the commit and the next page's set-up. A waiting task holds no transaction open. run()
 * lets the caller prepare the next task while at most `limit` + 1 run. The first failure is
 * rethrown by run() or drain(), after the others end.
 */
export class TaskPool {
  private readonly running = new Set<Promise<void>>();
  private turns = 0;
  /** Tasks waiting for a turn: each is handed it with the way to say it has sent its statement. */
  private readonly waiting: ((handoff: () => void) => void)[] = [];
  private wake: (() => void) | null = null;
  private failure: { error: unknown } | null = null;

  constructor(private readonly limit: number) {}

  async run(task: (turn: Turn) => Promise<void>): Promise<void> {
    this.throwIfFailed();
    let holding = false;
    /** Set while this task holds a turn handed over by another that waits for its statement to go. */
    let handoff: (() => void) | null = null;
    const turn: Turn = {
      take: async () => {
        if (holding) return;
        holding = true;
        if (this.turns < this.limit) this.turns += 1;
        else handoff = await new Promise<() => void>((resolve) => this.waiting.push(resolve));
        // Another task failed while this one waited: the scan is over, its statement is not sent.
        if (this.failure !== null) throw this.failure.error;
      },
      sent: () => {
        handoff?.();
        handoff = null;
      },
      done: () => {
        if (!holding) return Promise.resolve();
        holding = false;
        return this.pass();
      },
    };
    const promise: Promise<void> = task(turn)
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        turn.sent(); // never leave the task that handed over its turn waiting
        void turn.done();
        this.running.delete(promise);
        this.signal();
      });
    this.running.add(promise);
    while (this.failure === null && this.running.size > this.limit) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.failure !== null) {
      await this.drain();
    }
  }

  /** Waits for every task (none is left running when this returns or throws). */
  async drain(): Promise<void> {
    // A task that failed gives its turn back; one still waiting for a turn gets it as the others end.
    await Promise.allSettled([...this.running]);
    this.throwIfFailed();
  }

  /** A turn given back: to the first task waiting for one (resolves when it has sent its statement, or ended), else free. */
  private pass(): Promise<void> {
    const next = this.waiting.shift();
    if (next === undefined) {
      this.turns -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => next(resolve));
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }
}

/** A task's place among the statements running at once (TaskPool). */
export interface Turn {
  /** Resolves when the task may send its statement(s); at once when it holds the turn already. Again after done(): a new turn. */
  take(): Promise<void>;
  /** The statement is sent: a task that handed this one its turn may go on. */
  sent(): void;
  /**
   * The statement has ended (its rows are in): the turn passes on. Resolves when the task it passed
   * to has sent its statement (or ended), at once when none waited. Without a turn held: nothing.
   */
  done(): Promise<void>;
}
