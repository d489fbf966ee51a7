import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import Table from 'cli-table3';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import {
  BenchRefusal,
  connectionOptions,
  databaseUrl,
  dataSize,
  datasetSummary,
  ensureDataset,
  ensureEvictTable,
  gib,
  injectDrift,
  settingsOffTruth,
  type DataSize,
} from './dataset.js';
import {
  findClientBinary,
  measureCli,
  measureClientFloor,
  measureCounterCulture,
  measureFloor,
  measureSeedQuery,
  measureStartup,
  median,
  runningChild,
} from './measure.js';
import { parseBenchOptions, type BenchOptions, type PoolChoice } from './options.js';
import { mibText, PoolControl } from './pool.js';

/**
 * `npm run bench`: in one run, interleaved round by round, the floor (the two raw GROUP BY scans,
 * run by the stock `mariadb`/`mysql` client, the issue's definition, and through mysql2), the
 * analysis's verification query, a counter_culture-style audit, `coupon-audit check` and
 * `coupon-audit repair --yes`, each the median of --runs rounds with ratios to the floor and to check
 * measured in the same run; on a warm buffer pool (after one untimed pass) and on a cold one; then
 * start-up. The bench fails (exit 1) when any of them does not find exactly the injected drift, or
 * repair does not put every setting back to its true counts.
 */

const ITEMS = ['clientFloor', 'floor', 'analysis', 'counterCulture', 'check', 'repair'] as const;
type Item = (typeof ITEMS)[number];

interface Sample {
  ms: number;
  /** Innodb_buffer_pool_reads during the measurement (server-wide). */
  pagesRead: number;
  rssMiB?: number;
}

interface BlockResult {
  pool: PoolChoice;
  poolBytes: number;
  fit: string;
  samples: Record<Item, Sample[]>;
  lockHold: { p50: number[]; p99: number[]; max: number[] };
  transactions: number;
}

interface Context {
  options: BenchOptions;
  control: PoolControl;
  conn: Connection;
  url: string;
  /** The stock client's path, or null when there is none (its floor is then left out). */
  client: string | null;
  cliArgs: string[];
  drifting: number;
  log: (line: string) => void;
}

const ROTATED: readonly Item[] = ['clientFloor', 'floor', 'analysis', 'counterCulture', 'check'];

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const loadAtStart = loadavg()[0]!;
  const control = await PoolControl.open(options.url, log);
  const originalPool = control.originalPoolBytes;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log(`bench: ${signal}; stopping and restoring the server's settings`);
    runningChild?.kill('SIGTERM');
    void control
      .restore(log)
      .catch((error: unknown) => log(`bench: could not restore innodb_buffer_pool_size: ${String(error)}`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    // Build (when needed) with the warm pool already in place: the build is much faster with it.
    const initialWarm = options.warmPool === 'auto' ? 2 * 2 ** 30 : options.warmPool;
    if (options.pools.includes('warm')) await control.setPool(initialWarm, log);
    const dataset = await ensureDataset(options, log);
    const conn = await mysql.createConnection(connectionOptions(options.url, options.database));
    try {
      const [[server]] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS version, @@innodb_flush_method AS flush');
      const summary = await datasetSummary(conn);
      const size = await dataSize(conn, options.database);
      const warmBytes = options.warmPool === 'auto' ? autoWarmPool(size) : options.warmPool;
      const client = findClientBinary();
      if (client === null) log('bench: no mariadb or mysql client on the PATH: the stock-client floor is left out, ratios are to the mysql2 floor');
      const ctx: Context = {
        options,
        control,
        conn,
        url: databaseUrl(options.url, options.database),
        client,
        cliArgs: [...(options.concurrency === undefined ? [] : ['--concurrency', String(options.concurrency)]), ...options.cliArgs],
        drifting: 0,
        log,
      };

      const blocks: BlockResult[] = [];
      for (const pool of options.pools) {
        blocks.push(await runBlock(ctx, pool, pool === 'warm' ? warmBytes : options.coldPool, size));
      }
      await injectDrift(conn, 0);

      log(`start-up: ${options.startupRuns} runs each, interleaved`);
      const startup = { version: [] as number[], bare: [] as number[] };
      await measureStartup(); // untimed: the files into the OS cache
      for (let run = 0; run < options.startupRuns; run += 1) {
        const sample = await measureStartup();
        startup.version.push(sample.version);
        startup.bare.push(sample.bare);
      }
      const poolAtStartup = await control.poolBytes();

      const out = process.stdout;
      const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
      out.write(`coupon-audit bench, ${new Date().toISOString()}\n`);
      out.write(
        `Machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; ` +
          `load average ${loadAtStart.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at the end (a shared machine: other work runs beside the bench).\n`,
      );
      out.write(
        `Server: ${String(server!['version'])} at ${new URL(options.url).host}, innodb_flush_method ${String(server!['flush'])}, ` +
          `innodb_buffer_pool_size ${mibText(originalPool)} before the bench (put back at the end). Node ${process.versions.node}; ` +
          `coupon-audit ${version}, check/repair with ${ctx.cliArgs.length === 0 ? 'default options' : ctx.cliArgs.join(' ')}.\n`,
      );
      out.write(
        `Data set ${options.database} (--scale ${options.scale}): ${summary.settings} settings, ${summary.codes} codes, ${summary.uses} uses, ` +
          `${options.distribution === 'skewed' ? 'skewed' : 'flat'} (the top 1% of settings hold ${(summary.topShare * 100).toFixed(0)}% of the codes); ` +
          `${ctx.drifting} settings (${options.driftPercent}%) drifted each round; ` +
          `tables ${gib(size.tablesBytes)} (data + index), of which the audit reads ${size.auditIndexBytes === null ? 'an unknown part' : gib(size.auditIndexBytes)}; ` +
          `${dataset.built ? 'built by this run' : 'reused'}${dataset.buildSeconds === null ? '' : ` (build took ${(dataset.buildSeconds / 60).toFixed(1)} min)`}.\n`,
      );
      for (const block of blocks) out.write(`\n${blockReport(block, options, ctx.drifting)}`);
      out.write(
        `\nStart-up (innodb_buffer_pool_size ${mibText(poolAtStartup)}, not involved: no query), medians of ${options.startupRuns}: ` +
          `coupon-audit --version ${ms(median(startup.version))} (min ${ms(Math.min(...startup.version))}, max ${ms(Math.max(...startup.version))}), ` +
          `node -e 0 ${ms(median(startup.bare))} (min ${ms(Math.min(...startup.bare))}, max ${ms(Math.max(...startup.bare))}): ` +
          `${(median(startup.version) / median(startup.bare)).toFixed(2)}×.\n`,
      );
    } finally {
      await injectDrift(conn, 0).catch(() => undefined);
      await conn.end().catch(() => undefined);
    }
    return 0;
  } finally {
    if (!signalled) {
      await control.restore(log).catch((error: unknown) => log(`bench: could not restore innodb_buffer_pool_size: ${String(error)}`));
      await control.close();
    }
  }
}

/** 2 GiB, or the data set's tables plus a quarter when that is more, up to half the machine's memory. */
function autoWarmPool(size: DataSize): number {
  const needed = Math.ceil((size.tablesBytes * 1.25) / 2 ** 30) * 2 ** 30;
  return Math.min(Math.max(2 * 2 ** 30, needed), Math.floor(totalmem() / 2 / 2 ** 30) * 2 ** 30);
}

function fitText(poolBytes: number, size: DataSize): string {
  const audit = size.auditIndexBytes;
  if (size.tablesBytes <= poolBytes * 0.9) return `the data fits: tables ${gib(size.tablesBytes)} (data + index) in a ${mibText(poolBytes)} pool`;
  const auditPart =
    audit === null ? '' : audit <= poolBytes * 0.9 ? `; the pages the audit reads (${gib(audit)}) do fit` : `; nor do the pages the audit reads (${gib(audit)})`;
  return `THE DATA DOES NOT FIT: tables ${gib(size.tablesBytes)} (data + index) > ${mibText(poolBytes)} pool${auditPart}`;
}

async function runBlock(ctx: Context, pool: PoolChoice, target: number, size: DataSize): Promise<BlockResult> {
  const { options, control, log } = ctx;
  log(`${pool} pool: setting innodb_buffer_pool_size to ${mibText(target)}`);
  const poolBytes = await control.setPool(target, log);
  let fit = fitText(poolBytes, size);
  if (pool === 'cold') {
    const evictBytes = await ensureEvictTable(options.url, 2 * poolBytes, log);
    fit +=
      `. Before each measurement the pool is emptied: ${gib(evictBytes)} of another table read with ` +
      `innodb_old_blocks_time = 0 (so it displaces the young pages too)`;
  }
  const result: BlockResult = {
    pool,
    poolBytes,
    fit,
    samples: { clientFloor: [], floor: [], analysis: [], counterCulture: [], check: [], repair: [] },
    lockHold: { p50: [], p99: [], max: [] },
    transactions: 0,
  };
  if (pool === 'warm') {
    log('  untimed pass (loads the pool)');
    await runRound(ctx, 0, pool, null);
  }
  for (let round = 1; round <= options.runs; round += 1) {
    log(`  ${pool} round ${round}/${options.runs}`);
    await runRound(ctx, round, pool, result);
  }
  const now = await control.poolBytes();
  if (now !== poolBytes) throw new Error(`innodb_buffer_pool_size changed under the bench (${mibText(poolBytes)} -> ${mibText(now)}): someone else set it`);
  return result;
}

/** One round: drift injected, then each item (order rotated per round; repair last), checked for correctness. */
async function runRound(ctx: Context, round: number, pool: PoolChoice, result: BlockResult | null): Promise<void> {
  const { options, control, conn } = ctx;
  ctx.drifting = await injectDrift(conn, options.driftPercent);
  const rotated = ROTATED.filter((item) => item !== 'clientFloor' || ctx.client !== null);
  const order = [...rotated.slice(round % rotated.length), ...rotated.slice(0, round % rotated.length)];
  if (!options.skipRepair) order.push('repair');
  for (const item of order) {
    if (pool === 'cold') await control.evict();
    const before = await control.pagesRead();
    const sample = await measureItem(ctx, item, result);
    sample.pagesRead = (await control.pagesRead()) - before;
    result?.samples[item].push(sample);
  }
}

async function measureItem(ctx: Context, item: Item, result: BlockResult | null): Promise<Sample> {
  const { conn, drifting } = ctx;
  const expect = (what: string, found: number) => {
    if (found !== drifting) throw new Error(`${what} found ${found} drifted settings, expected ${drifting}`);
  };
  switch (item) {
    case 'clientFloor': {
      const run = await measureClientFloor(ctx.client!, ctx.options.url, ctx.options.database);
      if (run.bytes === 0) throw new Error(`the stock client's floor printed no rows`);
      return { ms: run.ms, pagesRead: 0 };
    }
    case 'floor':
      return { ms: await measureFloor(conn), pagesRead: 0 };
    case 'analysis': {
      const run = await measureSeedQuery(conn);
      expect('the analysis query', run.rows);
      return { ms: run.ms, pagesRead: 0 };
    }
    case 'counterCulture': {
      const run = await measureCounterCulture(conn);
      expect('the counter_culture-style audit', run.drifted);
      return { ms: run.ms, pagesRead: 0 };
    }
    case 'check': {
      const run = await measureCli(['check', '--url', ctx.url, '--format', 'json', ...ctx.cliArgs]);
      let found = -1;
      if (run.code === 0 || run.code === 1) found = (JSON.parse(run.stdout) as { summary: { drifted: number } }).summary.drifted;
      if (found !== drifting) throw new Error(`check found ${found} drifted settings, expected ${drifting} (exit ${run.code}): ${run.stderr.trim()}`);
      return { ms: run.ms, pagesRead: 0, rssMiB: run.peakRssMiB };
    }
    case 'repair': {
      const run = await measureCli(['repair', '--url', ctx.url, '--yes', '--format', 'json', ...ctx.cliArgs]);
      if (run.code !== 0) throw new Error(`repair exited ${run.code}: ${run.stderr.trim()}`);
      const report = JSON.parse(run.stdout) as {
        summary: { repaired: number; transactions: number; lockHoldMs?: { p50: number; p99: number; max: number } | null };
      };
      if (report.summary.repaired !== drifting) throw new Error(`repair repaired ${report.summary.repaired} settings, expected ${drifting}`);
      const left = await settingsOffTruth(conn);
      if (left !== 0) throw new Error(`after repair ${left} settings still differ from their true counts`);
      if (result !== null) {
        result.transactions = report.summary.transactions;
        const hold = report.summary.lockHoldMs;
        if (hold) {
          result.lockHold.p50.push(hold.p50);
          result.lockHold.p99.push(hold.p99);
          result.lockHold.max.push(hold.max);
        }
      }
      return { ms: run.ms, pagesRead: 0, rssMiB: run.peakRssMiB };
    }
  }
}

function blockReport(block: BlockResult, options: BenchOptions, drifting: number): string {
  const pool = mibText(block.poolBytes);
  const title =
    block.pool === 'warm'
      ? `Warm pool, innodb_buffer_pool_size = ${pool}: ${block.fit}. One untimed pass, then ${rounds(options.runs)}.`
      : `Cold pool, innodb_buffer_pool_size = ${pool}: ${block.fit}. ${rounds(options.runs)}.`;
  const floor = chosenFloor(block);
  const table = new Table({
    head: ['', 'pool', 'median', 'min', 'max', `× floor (${floor.by})`, '× check', 'pages read', 'peak RSS'],
    style: { head: [], border: [] },
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  });
  const check = medianMs(block.samples.check);
  const labels: Record<Item, string> = {
    clientFloor: 'floor: both GROUP BY settingId scans (stock client)',
    floor: 'floor: both GROUP BY settingId scans (mysql2)',
    analysis: "the analysis's verification query",
    counterCulture: 'counter_culture-style (pages of 1000, 2 counters)',
    check: 'coupon-audit check (process)',
    repair: `coupon-audit repair --yes (${drifting} settings)`,
  };
  for (const item of ITEMS) {
    const samples = block.samples[item];
    if (samples.length === 0) continue;
    const times = samples.map((s) => s.ms);
    const rss = samples.flatMap((s) => (s.rssMiB === undefined ? [] : [s.rssMiB]));
    table.push([
      labels[item],
      pool,
      seconds(median(times)),
      seconds(Math.min(...times)),
      seconds(Math.max(...times)),
      (median(times) / floor.ms).toFixed(2),
      Number.isNaN(check) ? '' : (median(times) / check).toFixed(2),
      median(samples.map((s) => s.pagesRead)).toFixed(0),
      rss.length === 0 ? '' : `${median(rss).toFixed(0)} MiB (max ${Math.max(...rss).toFixed(0)})`,
    ]);
  }
  let text = `${title}\n${table.toString()}\n`;
  text += `(× floor: ${floor.note}. Pages read: Innodb_buffer_pool_reads during the measurement, median; `;
  text += `server-wide, so other sessions' reads count too.)\n`;
  if (!Number.isNaN(check)) text += `Check at ${pool}: ${checkAgainstFloors(check, block)}.\n`;
  if (block.lockHold.max.length > 0) {
    text +=
      `Repair at ${pool}: ${block.transactions} transactions per run, lock hold per transaction p50 ${ms(median(block.lockHold.p50))}, ` +
      `p99 ${ms(median(block.lockHold.p99))}, max ${ms(Math.max(...block.lockHold.max))} (worst of ${block.lockHold.max.length} runs); ` +
      `repair / check ${(median(block.samples.repair.map((s) => s.ms)) / check).toFixed(2)}.\n`;
  }
  return text;
}

/**
 * The floor the × column divides by: the stock client's when it was measured (the issue defines the
 * floor as the two scans run by the stock client), else mysql2's, which also pays for Node parsing
 * every result row.
 */
function chosenFloor(block: BlockResult): { ms: number; by: string; note: string } {
  const client = medianMs(block.samples.clientFloor);
  if (!Number.isNaN(client)) {
    return { ms: client, by: 'stock client', note: "times the stock-client floor, the issue's definition (the client's start-up included)" };
  }
  return { ms: medianMs(block.samples.floor), by: 'mysql2', note: 'times the mysql2 floor, no stock client being on the PATH' };
}

/** Check's time over each floor measured, e.g. `1.62 × the stock-client floor, 0.93 × the mysql2 floor`. */
function checkAgainstFloors(check: number, block: BlockResult): string {
  const client = medianMs(block.samples.clientFloor);
  const ratios = Number.isNaN(client) ? [] : [`${(check / client).toFixed(2)} × the stock-client floor`];
  ratios.push(`${(check / medianMs(block.samples.floor)).toFixed(2)} × the mysql2 floor`);
  return ratios.join(', ');
}

/** The median time of the samples; NaN when the item was not measured. */
const medianMs = (samples: readonly Sample[]) => (samples.length === 0 ? NaN : median(samples.map((s) => s.ms)));
const rounds = (n: number) => (n === 1 ? '1 round' : `${n} interleaved rounds`);
const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof BenchRefusal ? 2 : 1;
  },
);
