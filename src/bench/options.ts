import { Command, InvalidArgumentError } from 'commander';

export interface BenchOptions {
  url: string;
  database: string;
  settings: number;
  codes: number;
  uses: number;
  driftPercent: number;
  runs: number;
  concurrency: number;
  rebuild: boolean;
  skipRepair: boolean;
}

function count(value: string): number {
  const n = Number(value.replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number (1k, 5m work too).');
  return n;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('expected a percentage from 0 to 100.');
  return n;
}

/** Parses `npm run bench -- …` flags. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const program = new Command('bench')
    .description('coupon-audit benchmark: the raw GROUP BY scans (the floor), the seed query, check and repair, interleaved')
    .option('--url <url>', 'server to run on (a database of its own is created there)', process.env['BENCH_DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306')
    .option('--database <name>', 'the benchmark database (built once, reused while the sizes match)', 'coupon_audit_bench')
    .option('--settings <n>', 'settings', count, 50_000)
    .option('--codes <n>', 'rows in g_coupons', count, 5_000_000)
    .option('--uses <n>', 'rows in g_coupon_uses', count, 1_500_000)
    .option('--drift-percent <p>', 'settings given drifted caches before each check and repair', percent, 1)
    .option('--runs <n>', 'interleaved rounds; medians are reported', count, 3)
    .option('--concurrency <n>', 'passed to coupon-audit check', count, 2)
    .option('--rebuild', 'rebuild the data set even if it matches', false)
    .option('--skip-repair', 'measure the scans and check only', false)
    .parse([...argv], { from: 'user' });
  return program.opts<BenchOptions>();
}
