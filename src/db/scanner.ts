import { compareSetting, type DriftedSetting } from '../core/drift.js';
import { ConfigError } from '../core/config.js';
import type { AuditScope, CounterModel } from '../core/model.js';
import { type BranchForm, comparePageSql, countChildrenSql, countChildrenStackedSql, lastIdSql, loadSql, nullKeyCountSql, PACKED_MAX_BYTES, childBranches, packedPageSql, pageBoundarySql, pageIdsSql, sessionSql, settingsByIdSql } from './builder.js';
import type { Database, Row, Session } from './database.js';
import { toDatabaseError } from './database-error.js';
import { type IdScope, isIntegerText, type SettingRow, toBigInt, toBigIntOrNull } from './rows.js';

/** The detection reads: page boundaries and the one-statement comparison of a page. */

/**
 * settings.id may lead a PRIMARY KEY or UNIQUE index of several columns (a partitioned table's
 * PRIMARY KEY (id, createdAt)), which lets two rows share an id; every read here pairs a setting
 * with its counts by id, so such an id is a model that does not fit the data: a ConfigError (exit
 * 2), raised where the rows first show it, before anything is written.
 */
export function sharedIdError(model: CounterModel, id: bigint | string): ConfigError {
  const { table, id: column } = model.settings;
  const shared = `${table}.${column} is ${String(id)} in more than one row, and a setting must be one row.`;
  // The built-in model has no settings.id to correct: its schema is the one to fix, or to describe.
  if (model.source === null) {
    return new ConfigError(`${shared} Make ${column} the table's key (a PRIMARY KEY or UNIQUE index of that column alone), or describe another key column as settings.id with --config FILE.`);
  }
  return new ConfigError(`settings.id: ${shared} Name a column that is unique by itself (a PRIMARY KEY or UNIQUE index of that column alone) as settings.id.`);
}

/** The first id `ids` hold twice, or undefined. */
function sharedId<T extends bigint | string>(ids: Iterable<T>): T | undefined {
  const seen = new Set<T>();
  for (const id of ids) {
    if (seen.has(id)) return id;
    seen.add(id);
  }
  return undefined;
}

export interface PageResult {
  /** Settings audited in the page. */
  scanned: number;
  drifted: DriftedSetting[];
  /** Ids of the settings that exist among the page's rows (all of them when not `onlyDrifted`). */
  found: bigint[];
  /** Of `found`, the DELETED settings --deleted skip left out (scanned does not count them). */
  skipped?: bigint[];
  /** Per counter (scope order): child rows whose setting id names no setting. */
  orphans: bigint[];
  /** Per counter (scope order): whether a child row counted names a setting of the page (core/drift.ts foreignKeyDoubts). */
  named?: boolean[];
  /** Per child branch (builder.ts childBranches), what the page held, when a packed page's numbers gave it (BranchShape). */
  children?: BranchShape[] | undefined;
}

/**
 * What a packed page's child branch held: `groups` keys (settings, orphans too, with children that
 * count) and, for a branch of one counter, `rows` child rows that count (NaN for a branch of
 * several: it has no one count). core/detect-drift.ts picks the next page's BranchForm by it.
 */
export interface BranchShape {
  rows: number;
  groups: number;
}

/** The last id of the page after `after` holding `size` settings; null when the rest fits in one page. */
export async function pageBoundary(db: Database, model: CounterModel, after: bigint | null, size: number): Promise<bigint | null> {
  const [row] = await db.query(pageBoundarySql(model, after, size), `reading ${model.settings.table}`);
  return row === undefined ? null : toBigInt(row['id']);
}

/** The ids of the page after `after` holding `size` settings, ascending; fewer when the rest fits in one page. */
export async function pageIds(db: Database, model: CounterModel, after: bigint | null, size: number): Promise<bigint[]> {
  const rows = await db.query(pageIdsSql(model, after, size), `reading ${model.settings.table}`);
  const ids = rows.map((row) => toBigInt(row['id']));
  const shared = sharedId(ids);
  if (shared !== undefined) throw sharedIdError(model, shared);
  return ids;
}

/** The highest setting id now; null for no settings. */
export async function lastId(db: Database, model: CounterModel): Promise<bigint | null> {
  const [row] = await db.query(lastIdSql(model), `reading ${model.settings.table}`);
  return toBigIntOrNull(row?.['id'] ?? null);
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
  const result: PageResult = { scanned: 0, drifted: [], found: [], skipped: [], orphans: new Array(n).fill(0n) };
  let totals: bigint[] | null = null;
  for (const row of rows) {
    if (row['id'] === null) {
      // The WITH ROLLUP row: the page's totals (its counts: the settings' and the orphans').
      result.scanned = Number(row['audited'] ?? 0);
      totals = scope.counters.map((_, i) => toBigIntOrNull(row[`actual${i}`]) ?? 0n);
      continue;
    }
    if (Number(row['known']) === 0) {
      // An orphan group's key is not read: a text key may hold no integer ('5.5'), and only its count matters.
      scope.counters.forEach((_, i) => (result.orphans[i]! += toBigIntOrNull(row[`actual${i}`]) ?? 0n));
      continue;
    }
    const id = toBigInt(row['sid']); // the setting's own id (builder.ts comparePageSql)
    if (Number(row['known']) > 1) throw sharedIdError(scope.model, id);
    result.found.push(id);
    if (Number(row['audited']) === 0) result.skipped!.push(id);
    const cached: Record<string, bigint | null> = {};
    const actual = new Map<string, bigint>();
    scope.counters.forEach((counter, i) => {
      cached[counter.name] = toBigIntOrNull(row[`cached${i}`]);
      actual.set(counter.name, toBigIntOrNull(row[`actual${i}`]) ?? 0n);
    });
    const drifted = compareSetting({ id, status: row['status'] == null ? null : String(row['status']), deleted: Number(row['deleted']) === 1, cached }, actual, scope);
    if (drifted !== null) result.drifted.push(drifted);
  }
  if (totals !== null) result.named = totals.map((total, i) => total > result.orphans[i]!);
  return result;
}

/**
 * One page compared in ONE snapshot, the cheap way: its own READ ONLY repeatable-read transaction
 * around compareInSnapshot. The session is left as it was found: committed, or destroyed on error
 * by the caller.
 */
export async function comparePackedPage(session: Session, scope: AuditScope, ids: IdScope, options: PackedPageOptions = {}): Promise<PageResult> {
  const maxBytes = options.maxBytes ?? PACKED_MAX_BYTES;
  await session.query(sessionSql.packedMaxBytes(maxBytes));
  await session.query(sessionSql.repeatableReadNext);
  await options.beforeRead?.();
  await session.query(sessionSql.beginReadOnly);
  const result = await compareInSnapshot(session, scope, ids, maxBytes, options, options.forms);
  await session.query(sessionSql.commit);
  return result;
}

export interface PackedPageOptions extends SnapshotHooks {
  maxBytes?: number;
  /** How each child branch is sent (builder.ts BranchForm); grouped where none is given. */
  forms?: readonly BranchForm[] | undefined;
  /**
   * Awaited before the transaction begins: the page waits there for its turn (detect-drift.ts
   * TaskPool), with no transaction open.
   */
  beforeRead?: () => Promise<void>;
}

/** compareInSnapshot's hooks around its statements (detect-drift.ts TaskPool's turns). */
export interface SnapshotHooks {
  /** Called once the packed statement is sent (its rows not yet in). */
  sent?: () => void;
  /**
   * Awaited once the packed statement's rows are in, before Node reads them, with the number of
   * settings rows in the scope (skipped ones too).
   */
  afterRead?: (settings: number) => Promise<void>;
  /**
   * Awaited before the page's further statements when they are costly: the page read again grouped
   * or stacked, or the reads of candidates that are more than a tenth of the page.
   */
  beforeMore?: () => Promise<void>;
}

/**
 * Compares the settings of `ids` inside the caller's snapshot (an open repeatable-read
 * transaction): the packed statement (builder.ts packedPageSql) reads them and their counts as
 * text, Node finds the candidates in it (parsePackedPage), and the candidates are read again as
 * values in the same snapshot (compareCandidates): what is reported is decided there, by the one
 * drift rule (core/drift.ts). A child branch sent a key per row (`forms`, builder.ts BranchForm)
 * and cut at group_concat_max_len is read again grouped; any other cut value (many orphan groups)
 * sends the whole scope through comparePageSql. Every statement is of the caller's snapshot.
 */
export async function compareInSnapshot(
  session: Session,
  scope: AuditScope,
  ids: IdScope,
  maxBytes = PACKED_MAX_BYTES,
  hooks: SnapshotHooks = {},
  forms: readonly BranchForm[] = [],
): Promise<PageResult> {
  const pending = session.query(packedPageSql(scope, ids, forms), { textAsBytes: true });
  hooks.sent?.(); // the driver wrote the statement when it was called
  const rows = await pending;
  await hooks.afterRead?.(Number(rows.find((row) => Number(row['b']) === 0)?.['n'] ?? 0));
  const found = ids.kind === 'ids';
  let packed = parsePackedPage(rows, scope, { found, maxBytes, forms });
  if (packed === null) {
    // More children than the pages before had: a key per child row passed group_concat_max_len.
    // Where only such values were cut, the same page grouped (a record per setting), in the same snapshot.
    const cut = cutBranches(rows, maxBytes);
    if (cut.length > 0 && cut.every((b) => b > 0 && forms[b - 1] === 'rows')) {
      await hooks.beforeMore?.();
      const grouped = forms.map((form) => (form === 'rows' ? 'grouped' : form));
      packed = parsePackedPage(await session.query(packedPageSql(scope, ids, grouped), { textAsBytes: true }), scope, { found, maxBytes, forms: grouped });
    }
  }
  if (packed === null) {
    await hooks.beforeMore?.();
    return comparePage(session, scope, ids, { onlyDrifted: ids.kind === 'range' });
  }
  // A few candidates are read by key for a fraction of the page's statement; many (a migration
  // that broke every cache) cost as much as it did, and wait for a turn like it.
  if (packed.candidates.length > 0 && packed.candidates.length * 10 > packed.scanned) await hooks.beforeMore?.();
  const drifted = packed.candidates.length === 0 ? [] : await compareCandidates(session, scope, packed.candidates, packed.counts);
  return { scanned: packed.scanned, drifted, found: packed.found, skipped: packed.skipped, orphans: packed.orphans, named: packed.named, children: packed.children };
}

/**
 * The branches (`b`: 0 the settings, j + 1 the childBranches) whose packed value is as long as
 * group_concat_max_len (`maxBytes`): the server cuts a value there, so such a value counts as cut
 * whatever it holds. Only where every one is a branch sent a key per row may the page, read
 * grouped, fit (compareInSnapshot).
 */
function cutBranches(rows: readonly Row[], maxBytes: number): number[] {
  const cut: number[] = [];
  for (const row of rows) {
    const bytes = packedBytes(row['p']);
    if (bytes !== null && bytes.length >= maxBytes) cut.push(Number(row['b']));
  }
  return cut;
}

/**
 * The drifted settings among `ids` (a packed page's candidates), read inside the caller's snapshot:
 * their rows, then each counter's children grouped by setting, every statement a lookup by key (the
 * stacked statement would group its union once more, several times the cost per candidate),
 * compared in Node by the one drift rule (core/drift.ts compareSetting; whether a status is the
 * deleted one comes from the server, as in the packed statement). The snapshot is what makes the
 * separate reads one. `known`: counts the packed statement gave exactly in this same snapshot (in
 * scope order), which need no second read; the others are counted by key.
 */
export async function compareCandidates(
  session: Session,
  scope: AuditScope,
  ids: readonly bigint[],
  known: ReadonlyMap<bigint, readonly bigint[]> = new Map(),
): Promise<DriftedSetting[]> {
  const settings = readSettingRows(await session.query(settingsByIdSql(scope, ids)), scope);
  const counts = await countChildren(session, scope, settings.filter((setting) => !known.has(setting.id)).map((setting) => setting.id));
  const drifted: DriftedSetting[] = [];
  for (const setting of settings) {
    const given = known.get(setting.id);
    const actual = new Map(scope.counters.map((counter, i) => [counter.name, given?.[i] ?? counts.get(counter.name)?.get(setting.id) ?? 0n]));
    const drift = compareSetting(setting, actual, scope);
    if (drift !== null) drifted.push(drift);
  }
  return drifted;
}

/** Rows of builder.ts settingsByIdSql (and lockSettingsSql) as settings. */
export function readSettingRows(rows: readonly Row[], scope: AuditScope): SettingRow[] {
  // The columns' names once, not per row: the scan and every repair transaction read thousands.
  const columns = scope.counters.map((counter, i) => [counter.name, `cached${i}`] as const);
  const settings = rows.map((row) => {
    const cached: Record<string, bigint | null> = {};
    for (const [name, column] of columns) cached[name] = toBigIntOrNull(row[column]);
    return { id: toBigInt(row['id']), status: row['status'] == null ? null : String(row['status']), deleted: Number(row['deleted']) === 1, cached };
  });
  const shared = sharedId(settings.map((setting) => setting.id));
  if (shared !== undefined) throw sharedIdError(scope.model, shared);
  return settings;
}

/**
 * Per counter (by name), the children of these settings that count, grouped by setting (absent =
 * none): plain, non-locking reads, as of the caller's snapshot, or (READ COMMITTED) as of each
 * statement. Empty maps for no ids.
 */
export async function countChildren(session: Session, scope: AuditScope, ids: readonly bigint[]): Promise<Map<string, Map<bigint, bigint>>> {
  const counts = new Map<string, Map<bigint, bigint>>();
  for (const counter of scope.counters) {
    const perSetting = new Map<bigint, bigint>();
    if (ids.length > 0) {
      const rows = await session.query(countChildrenSql(counter, ids));
      if (rows.every((row) => isIdText(row['settingId']))) {
        for (const row of rows) perSetting.set(toBigInt(row['settingId']), toBigInt(row['n']));
      } else {
        // A text key: a group came back as no id ('11 ', '011', '11.0': `IN (11)` compares them as
        // numbers). Which of them are a setting's is the collation's call, as in the page
        // statements: read again, stacked with the settings (builder.ts countChildrenStackedSql).
        for (const row of await session.query(countChildrenStackedSql(scope.model, counter, ids))) {
          perSetting.set(toBigInt(row['settingId']), toBigIntOrNull(row['n']) ?? 0n);
        }
      }
    }
    counts.set(counter.name, perSetting);
  }
  return counts;
}

/** A key as the server writes an integer id (a number, or digits as text). */
function isIdText(value: unknown): boolean {
  return typeof value === 'number' || typeof value === 'bigint' || (typeof value === 'string' && isIntegerText(value));
}

export interface PackedPage {
  /** Settings audited in the page. */
  scanned: number;
  /** Settings whose caches differ from their counts as text: a superset of the drifted ones. */
  candidates: bigint[];
  /**
   * Per candidate, its counts in scope order, when the packed text gave each as a plain integer
   * (parsePackedNumbers); a candidate absent here is counted again by key.
   */
  counts?: Map<bigint, bigint[]>;
  /** Per counter (scope order): child rows whose setting id names no setting. */
  orphans: bigint[];
  /** Per counter (scope order): whether a child row counted names a setting. */
  named: boolean[];
  /** The ids of the settings read, when asked for (an --ids chunk: which of them exist). */
  found: bigint[];
  /** Of `found`, the ids --deleted skip left out. */
  skipped: bigint[];
  /** Per child branch, what it held (the usual page's numbers give it; the text way does not). */
  children?: BranchShape[];
}

/**
 * Reads the rows of packedPageSql; null when a packed value was cut short. Conservative: a cache
 * is a candidate unless its text is exactly the count's (a NULL cache, a negative one, or one
 * written in any other form, such as a DECIMAL's `5.00`, goes to the exact comparison). A value
 * as long as group_concat_max_len (`maxBytes`) counts as cut whatever it holds: a cut inside the
 * last number of the last record leaves the record count whole and the number wrong.
 */
export function parsePackedPage(
  rows: readonly Row[],
  scope: AuditScope,
  options: { found?: boolean; maxBytes?: number; forms?: readonly BranchForm[] } = {},
): PackedPage | null {
  if (cutBranches(rows, options.maxBytes ?? PACKED_MAX_BYTES).length > 0) return null;
  const forms = options.forms ?? [];
  const fast = parsePackedNumbers(rows, scope, options.found === true, forms);
  return fast !== undefined ? fast : parsePackedText(rows, scope, options.found === true, forms);
}

/**
 * Arrays lent to one page's parse and taken back by the next (reset): a page of 20,000 settings
 * parsed into new arrays each time allocated and zeroed some 1 MB of them outside the heap. The
 * 60 pages of the 1.2M-settings bench, replayed through parsePackedPage in a fresh process, took
 * 265-278 ms so and 137-172 ms with these. Parsing is synchronous, so one set serves every
 * connection. An array longer than SCRATCH_MAX_LENGTH is not kept (a page of a million child keys
 * would keep 16 MB). A fresh set (the default of the parsers) hands out new arrays.
 */
export class ScratchArrays {
  private readonly pool: Float64Array[] = [];
  private next = 0;

  /** Takes every array back: what was taken before must not be used after. */
  reset(): void {
    this.next = 0;
  }

  /** An array of `length` doubles, holding whatever the last page left there. */
  take(length: number): Float64Array {
    if (length > SCRATCH_MAX_LENGTH) return new Float64Array(length);
    let array = this.pool[this.next];
    if (array === undefined || array.length < length) {
      array = new Float64Array(Math.min(SCRATCH_MAX_LENGTH, Math.max(length, 2 * (array?.length ?? 0))));
      this.pool[this.next] = array;
    }
    this.next += 1;
    return array.subarray(0, length);
  }
}

const SCRATCH_MAX_LENGTH = 1 << 18;

const scratch = new ScratchArrays();

/** The largest integer written in digits that a double holds exactly, whatever the digits. */
const SAFE_DIGITS = 15;

/**
 * parsePackedPage for the usual page: each packed value parsed once into columns of numbers
 * (parsePackedColumns, parsePackedRuns), then each child branch merged with the settings by id
 * (both come in the order of the indexes they were read by, ascending), then the caches compared.
 * A cache or count that is not a plain integer of at most 15 digits (`-` for NULL, `5.00`) is NaN,
 * which equals nothing: a candidate. undefined when the page is not the usual one (an id past 15
 * digits, or out of order): parsePackedText reads it then.
 */
function parsePackedNumbers(rows: readonly Row[], scope: AuditScope, withFound: boolean, forms: readonly BranchForm[]): PackedPage | null | undefined {
  const n = scope.counters.length;
  const withDeleted = scope.deleted !== 'count';
  const byBranch = new Map<number, Row>(rows.map((row) => [Number(row['b']), row]));
  // Every array below is the scratch's, handed out again by the next page: nothing of them leaves.
  scratch.reset();
  const columnsOf = (b: number, width: number, form: BranchForm = 'grouped'): Float64Array[] | 'cut' | 'unusual' => {
    const row = byBranch.get(b);
    const bytes = packedBytes(row?.['p']);
    const count = Number(row?.['n'] ?? 0);
    return form === 'rows' ? parsePackedRuns(bytes, count, scratch) : parsePackedColumns(bytes, width, count, scratch);
  };
  const childSpecs = childBranches(scope);
  const parsed = [columnsOf(0, 1 + (withDeleted ? 1 : 0) + n), ...childSpecs.map((branch, j) => columnsOf(j + 1, 1 + branch.counters.length, forms[j]))];
  // An unusual page is read again as text (which notices a cut value itself); else a cut is null.
  if (parsed.includes('unusual')) return undefined;
  if (parsed.includes('cut')) return null;
  const [settings, ...children] = parsed as Float64Array[][];
  const ids = settings![0]!;
  const deleted = withDeleted ? settings![1]! : null;
  const cached = settings!.slice(withDeleted ? 2 : 1);
  // Per counter, the count of each setting (by its index in `ids`; 0 without children): one merge
  // of each branch's keys with the ids, both ascending. A key with no setting is an orphan group.
  const actual = scope.counters.map(() => scratch.take(ids.length).fill(0));
  const orphans = new Array<number>(n).fill(0);
  const shapes = children.map((columns, j) => {
    const keys = columns[0]!;
    const counters = childSpecs[j]!.counters;
    counters.forEach((i, k) => (orphans[i]! += mergeCounts(ids, keys, columns[k + 1]!, actual[i]!)));
    return { rows: counters.length === 1 ? sum(columns[1]!) : NaN, groups: keys.length };
  });
  if (orphans.some((total) => !Number.isSafeInteger(total))) return undefined;
  // NaN (a count past 15 digits) is a count too.
  const named = actual.map((column) => column.some((count) => count !== 0));

  const candidates: bigint[] = [];
  const counts = new Map<bigint, bigint[]>();
  let scanned = 0;
  const skip = scope.deleted === 'skip';
  const skipped: bigint[] = [];
  for (let r = 0; r < ids.length; r++) {
    const isDeleted = deleted !== null && deleted[r] === 1;
    if (isDeleted && skip) {
      if (withFound) skipped.push(BigInt(ids[r]!));
      continue;
    }
    scanned += 1;
    for (let i = 0; i < n; i++) {
      if (cached[i]![r] !== (isDeleted ? 0 : actual[i]![r])) {
        const key = BigInt(ids[r]!);
        candidates.push(key);
        // NaN: a count that was not a plain integer of at most 15 digits; counted again by key.
        if (!actual.some((column) => Number.isNaN(column[r]))) counts.set(key, actual.map((column) => BigInt(column[r]!)));
        break;
      }
    }
  }
  const found = withFound ? Array.from(ids, (id) => BigInt(id)) : [];
  return { scanned, candidates, counts, orphans: orphans.map((total) => BigInt(total)), named, found, skipped, children: shapes };
}

/**
 * Writes each group's count into `into` at its setting's index in `ids` (both lists ascending);
 * returns the sum of the groups whose key is no setting's (orphans).
 */
function mergeCounts(ids: Float64Array, keys: Float64Array, counts: Float64Array, into: Float64Array): number {
  let orphans = 0;
  let r = 0;
  for (let g = 0; g < keys.length; g++) {
    const key = keys[g]!;
    while (r < ids.length && ids[r]! < key) r++;
    if (r < ids.length && ids[r] === key) into[r] = counts[g]!;
    else orphans += counts[g]!;
  }
  return orphans;
}

function sum(values: Float64Array): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
}

/**
 * A 'rows' branch's packed value (`k,k,k,…`: `count` keys, one per child row; builder.ts
 * BranchForm) counted into [keys, counts], the columns parsePackedColumns gives of a grouped
 * branch. The server writes the keys in the order of the index it read: ascending, equal ones
 * together. 'unusual' when a key is not 1 to 15 digits (or has a leading zero) or goes down (the
 * text way then counts them by a map); 'cut' as parsePackedColumns.
 */
export function parsePackedRuns(bytes: Uint8Array | null, count: number, scratch = new ScratchArrays()): Float64Array[] | 'cut' | 'unusual' {
  const keys = scratch.take(count);
  const counts = scratch.take(count);
  const length = bytes === null ? 0 : bytes.length;
  if (count === 0) return length === 0 ? [keys, counts] : 'cut';
  if (bytes === null) return 'cut';
  let pos = 0;
  let runs = 0;
  let previous = -Infinity;
  for (let r = 0; r < count; r++) {
    if (pos > length) return 'cut';
    const start = pos;
    let value = 0;
    let c = 0;
    while (pos < length && (c = bytes[pos]!) >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      pos++;
    }
    // Not 1-15 digits, or with a leading zero ('05': a text column, not the id 5): the text way.
    if (pos - start === 0 || pos - start > SAFE_DIGITS || (pos < length && c !== 44) || (bytes[start] === 48 && pos - start > 1)) return 'unusual';
    pos++; // past the ','
    if (value === previous) counts[runs - 1]! += 1;
    else if (value > previous) {
      keys[runs] = value;
      counts[runs] = 1;
      runs++;
      previous = value;
    } else return 'unusual';
  }
  return pos === length + 1 ? [keys.subarray(0, runs), counts.subarray(0, runs)] : 'cut';
}

/**
 * A packed value (`a b c,d e f,…`: `count` records of `width` fields) as columns of numbers, read
 * from the bytes in one pass (ASCII digits; the server's text undecoded). A field that is not 1 to
 * 15 digits is NaN. 'cut' when the text holds fewer records than `count` or more text after them
 * (cut at group_concat_max_len: the count and the text disagree); 'unusual' when a key (the first
 * field) is NaN (a leading zero makes it so) or keys are not ascending.
 */
export function parsePackedColumns(bytes: Uint8Array | null, width: number, count: number, scratch = new ScratchArrays()): Float64Array[] | 'cut' | 'unusual' {
  const columns = Array.from({ length: width }, () => scratch.take(count));
  const length = bytes === null ? 0 : bytes.length;
  if (count === 0) return length === 0 ? columns : 'cut';
  if (bytes === null) return 'cut';
  const keys = columns[0]!;
  let pos = 0;
  let previous = -Infinity;
  for (let r = 0; r < count; r++) {
    for (let f = 0; f < width; f++) {
      if (pos > length) return 'cut';
      // The usual field is all digits up to its separator (' ' between fields, ',' between
      // records): one tight loop. Anything else in it ('-', '.', a sign) makes it NaN.
      const start = pos;
      let value = 0;
      let c = 0;
      while (pos < length && (c = bytes[pos]!) >= 48 && c <= 57) {
        value = value * 10 + (c - 48);
        pos++;
      }
      // A key written with a leading zero ('05': a text column) is not the id 5: NaN, unusual.
      let exact = pos - start > 0 && pos - start <= SAFE_DIGITS && !(f === 0 && bytes[start] === 48 && pos - start > 1);
      if (pos < length && c !== 32 && c !== 44) {
        exact = false;
        while (pos < length && (c = bytes[pos]!) !== 32 && c !== 44) pos++;
      }
      columns[f]![r] = exact ? value : NaN;
      pos++; // past the separator
    }
    const key = keys[r]!;
    if (Number.isNaN(key) || !(key > previous)) return 'unusual';
    previous = key;
  }
  return pos === length + 1 ? columns : 'cut';
}

/** parsePackedPage for any page: a string per field, keys matched by a map. */
function parsePackedText(rows: readonly Row[], scope: AuditScope, withFound: boolean, forms: readonly BranchForm[]): PackedPage | null {
  const n = scope.counters.length;
  const withDeleted = scope.deleted !== 'count';
  const byBranch = new Map<number, Row>(rows.map((row) => [Number(row['b']), row]));
  /** A branch's records as columns of text; null when cut short (fewer records than its COUNT(*)). */
  const columns = (b: number, width: number): string[][] | null => {
    const row = byBranch.get(b);
    const parsed = splitPacked(packedText(row?.['p']), width);
    return parsed !== null && parsed[0]!.length === Number(row?.['n'] ?? 0) ? parsed : null;
  };

  const settings = columns(0, 1 + (withDeleted ? 1 : 0) + n);
  if (settings === null) return null;
  const ids = settings[0]!;
  // The usual page comes here when its ids are not ascending, as two rows of one id are not.
  const shared = sharedId(ids);
  if (shared !== undefined) throw sharedIdError(scope.model, shared);
  const deleted = withDeleted ? settings[1]! : null;
  const cached = settings.slice(withDeleted ? 2 : 1);
  /** Per counter, per setting (index into `ids`): the count, as the server wrote it; absent = 0. */
  const actual: (string | undefined)[][] = cached.map(() => new Array<string | undefined>(ids.length));
  const orphans = new Array<bigint>(n).fill(0n);
  const shapes: BranchShape[] = [];
  for (const [j, branch] of childBranches(scope).entries()) {
    const children = forms[j] === 'rows' ? countKeys(columns(j + 1, 1)) : columns(j + 1, 1 + branch.counters.length);
    if (children === null) return null;
    // A key that is no id as digits (a text key: '11 ', '011', ' 11') is a setting's or not as the
    // column's collation compares texts, which the stacked statement's GROUP BY asks the server
    // (null: comparePageSql). A key holding a space or a comma ('11 1' from ' 11') also shifts the
    // fields of its record, so a count that is not one goes there too.
    if (children[0]!.some((key) => !isIntegerText(key)) || children.slice(1).some((column) => column.some((count) => !COUNT_TEXT.test(count)))) return null;
    const keys = children[0]!;
    shapes.push({ rows: branch.counters.length === 1 ? children[1]!.reduce((total, count) => total + Number(count), 0) : NaN, groups: keys.length });
    const at = matchKeys(ids, keys);
    for (let r = 0; r < keys.length; r++) {
      branch.counters.forEach((i, k) => {
        const count = children[k + 1]![r]!;
        if (at[r] === -1) orphans[i]! += BigInt(count);
        else actual[i]![at[r]!] = count;
      });
    }
  }

  let scanned = 0;
  const candidates: bigint[] = [];
  const skipped: bigint[] = [];
  for (let at = 0; at < ids.length; at++) {
    const isDeleted = deleted !== null && deleted[at] === '1';
    if (isDeleted && scope.deleted === 'skip') {
      if (withFound) skipped.push(toBigInt(ids[at]!));
      continue;
    }
    scanned += 1;
    for (let i = 0; i < n; i++) {
      const expected = isDeleted ? '0' : (actual[i]![at] ?? '0');
      if (cached[i]![at] !== expected) {
        candidates.push(toBigInt(ids[at]!));
        break;
      }
    }
  }
  const named = actual.map((column) => column.some((count) => count !== undefined && count !== '0'));
  return { scanned, candidates, orphans, named, found: withFound ? ids.map((id) => toBigInt(id)) : [], skipped, children: shapes };
}

/** A count as the server writes one (the text way's check of a record's fields). */
const COUNT_TEXT = /^(?:0|[1-9][0-9]*)$/;

/** A 'rows' branch's keys (one per child row, in any order) as a grouped branch's columns: [keys, counts]. */
function countKeys(parsed: string[][] | null): string[][] | null {
  if (parsed === null) return null;
  const counts = new Map<string, bigint>();
  for (const key of parsed[0]!) counts.set(key, (counts.get(key) ?? 0n) + 1n);
  return [[...counts.keys()], Array.from(counts.values(), String)];
}

/**
 * `a b c,d e f,…` as columns ([[a, d], [b, e], [c, f]]), by indexOf: splitting into a string per
 * record and then per field costs several times as much on a page of 20,000 settings. null when
 * the text ends inside a record (a value cut at group_concat_max_len).
 */
export function splitPacked(text: string | null, width: number): string[][] | null {
  const out = Array.from({ length: width }, () => [] as string[]);
  if (text === null || text === '') return out;
  let pos = 0;
  while (pos <= text.length) {
    for (let f = 0; f < width - 1; f++) {
      const space = text.indexOf(' ', pos);
      if (space === -1) return null;
      out[f]!.push(text.slice(pos, space));
      pos = space + 1;
    }
    let comma = text.indexOf(',', pos);
    if (comma === -1) comma = text.length;
    out[width - 1]!.push(text.slice(pos, comma));
    pos = comma + 1;
  }
  return out;
}

/**
 * For each key, the index of the same id in `ids`, or -1 (an orphan), by a map: only unusual pages
 * come here (parsePackedNumbers merges the usual ones), so their order is not relied on.
 */
export function matchKeys(ids: readonly string[], keys: readonly string[]): Int32Array {
  const index = new Map<string, number>(ids.map((id, i) => [id, i]));
  return Int32Array.from(keys, (key) => index.get(key) ?? -1);
}

/** A GROUP_CONCAT value as text (the text way); null for no rows. */
function packedText(value: unknown): string | null {
  const bytes = packedBytes(value);
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1'); // digits, spaces, commas and '-' only
}

/** A GROUP_CONCAT value as bytes: as read (Session.query textAsBytes), or a string's; null for no rows. */
function packedBytes(value: unknown): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  return Buffer.from(String(value), 'latin1');
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
    await session.query(sessionSql.packedMaxBytes(PACKED_MAX_BYTES));
    await session.query(sessionSql.repeatableReadNext);
    await session.query(sessionSql.beginSnapshot);
    for (let start = 0; start < ids.length; start += chunk) {
      const page = await compareInSnapshot(session, scope, { kind: 'ids', ids: ids.slice(start, start + chunk) });
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
