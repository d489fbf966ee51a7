import { cpus, totalmem } from 'node:os';
import Table from 'cli-table3';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { connectionOptions, databaseUrl, datasetSummary, ensureDataset, injectDrift } from './dataset.js';
import { measureCli, measureFloor, measureSeedQuery, median } from './measure.js';
import { parseBenchOptions } from './options.js';

/**
 * `npm run bench`: in one run, interleaved round by round, the floor (the two raw GROUP BY scans),
 * the seed's verification query, `coupon-audit check` and `coupon-audit repair --yes`, each the
 * median of --runs rounds, with ratios to the floor measured in the same run.
 */
async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv.slice(2));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  await ensureDataset(options, log);
  const conn = await mysql.createConnection(connectionOptions(options.url, options.database));
  const url = databaseUrl(options.url, options.database);
  const [[server]] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS version');
  const data = await datasetSummary(conn);

  const times = { floor: [] as number[], seed: [] as number[], check: [] as number[], repair: [] as number[] };
  const rss = { check: [] as number[], repair: [] as number[] };
  const lockHold = { p50: [] as number[], p99: [] as number[], max: [] as number[] };
  let transactions = 0;
  let drifting = 0;
  for (let round = 1; round <= options.runs; round += 1) {
    drifting = await injectDrift(conn, options.driftPercent);
    log(`round ${round}/${options.runs}`);
    times.floor.push(await measureFloor(conn));
    times.seed.push((await measureSeedQuery(conn)).ms);
    const check = await measureCli(['check', '--url', url, '--format', 'json', '--concurrency', String(options.concurrency)]);
    const found = check.code === 0 || check.code === 1 ? (JSON.parse(check.stdout) as { summary: { drifted: number } }).summary.drifted : -1;
    if (found !== drifting) throw new Error(`check found ${found} drifted settings, expected ${drifting} (exit ${check.code}): ${check.stderr}`);
    times.check.push(check.ms);
    rss.check.push(check.peakRssMiB);
    if (options.skipRepair) continue;
    const repair = await measureCli(['repair', '--url', url, '--yes', '--format', 'json', '--concurrency', String(options.concurrency)]);
    if (repair.code !== 0) throw new Error(`repair exited ${repair.code}: ${repair.stderr}`);
    const report = JSON.parse(repair.stdout) as {
      summary: { repaired: number; transactions: number; lockHoldMs: { p50: number; p99: number; max: number } | null };
    };
    if (report.summary.repaired !== drifting) throw new Error(`repair repaired ${report.summary.repaired}, expected ${drifting}`);
    times.repair.push(repair.ms);
    rss.repair.push(repair.peakRssMiB);
    transactions = report.summary.transactions;
    if (report.summary.lockHoldMs !== null) {
      lockHold.p50.push(report.summary.lockHoldMs.p50);
      lockHold.p99.push(report.summary.lockHoldMs.p99);
      lockHold.max.push(report.summary.lockHoldMs.max);
    }
  }
  await injectDrift(conn, 0);
  await conn.end();

  const floor = median(times.floor);
  const table = new Table({
    head: ['', 'median', 'min', 'max', '× floor'],
    style: { head: [], border: [] },
    colAligns: ['left', 'right', 'right', 'right', 'right'],
  });
  const row = (label: string, values: number[]) => {
    if (values.length === 0) return;
    table.push([label, seconds(median(values)), seconds(Math.min(...values)), seconds(Math.max(...values)), (median(values) / floor).toFixed(2)]);
  };
  row('floor: GROUP BY settingId on both child tables', times.floor);
  row('seed verification query', times.seed);
  row(`coupon-audit check (process, --concurrency ${options.concurrency})`, times.check);
  row(`coupon-audit repair --yes (${drifting} settings)`, times.repair);

  const out = process.stdout;
  out.write(
    `Data set: ${data.settings} settings, ${data.codes} codes, ${data.uses} uses; the top 1% of settings hold ` +
      `${(data.topShare * 100).toFixed(0)}% of the codes; ${drifting} settings (${options.driftPercent}%) drifted.\n`,
  );
  out.write(
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `server ${String(server!['version'])}; Node ${process.versions.node}. ${options.runs} interleaved rounds.\n`,
  );
  out.write(`${table.toString()}\n`);
  out.write(`Peak RSS: check ${mib(rss.check)}, repair ${mib(rss.repair)}.\n`);
  if (lockHold.max.length > 0) {
    out.write(
      `Lock hold per repair transaction (${transactions} transactions per run): p50 ${ms(median(lockHold.p50))}, ` +
        `p99 ${ms(median(lockHold.p99))}, max ${ms(Math.max(...lockHold.max))} (worst of ${lockHold.max.length} runs).\n`,
    );
    out.write(`Repair / check: ${(median(times.repair) / median(times.check)).toFixed(2)}.\n`);
  }
}

const seconds = (value: number) => `${(value / 1000).toFixed(2)} s`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const mib = (values: number[]) => (values.length === 0 ? 'n/a' : `median ${median(values).toFixed(0)} MiB, max ${Math.max(...values).toFixed(0)} MiB`);

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
