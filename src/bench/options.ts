import { Command, InvalidArgumentError, Option } from 'commander';

/** How setting ids are drawn for the child rows. */
export type Distribution = 'skewed' | 'flat';

export interface Shape {
  settings: number;
  codes: number;
  uses: number;
  distribution: Distribution;
}

/**
 * The named data sets of `--scale`. Each lives in a database of its own, so several can coexist
 * and be reused. The code scales keep 50k settings and 0.3 uses per code, so only the row count
 * changes; many-settings has over a million settings with a few codes each (ids drawn evenly).
 */
export const SCALES = {
  '5m': { database: 'coupon_audit_bench', settings: 50_000, codes: 5_000_000, uses: 1_500_000, distribution: 'skewed' },
  '10m': { database: 'coupon_audit_bench_10m', settings: 50_000, codes: 10_000_000, uses: 3_000_000, distribution: 'skewed' },
  '50m': { database: 'coupon_audit_bench_50m', settings: 50_000, codes: 50_000_000, uses: 15_000_000, distribution: 'skewed' },
  'many-settings': { database: 'coupon_audit_bench_many', settings: 1_200_000, codes: 3_000_000, uses: 1_000_000, distribution: 'flat' },
} as const satisfies Record<string, Shape & { database: string }>;
export type ScaleName = keyof typeof SCALES;

export type PoolChoice = 'warm' | 'cold';

export interface BenchOptions extends Shape {
  url: string;
  scale: ScaleName;
  database: string;
  driftPercent: number;
  runs: number;
  startupRuns: number;
  /** Passed to check and repair only when given: by default the product's own defaults are measured. */
  concurrency: number | undefined;
  /** Extra arguments for both check and repair (e.g. `--page-size 1000`). */
  cliArgs: string[];
  /** Bytes, or 'auto': 2 GiB, more when the data set needs it (up to half the machine's memory). */
  warmPool: number | 'auto';
  coldPool: number;
  pools: PoolChoice[];
  buildTimeLimitMinutes: number;
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

/** `2g`, `128m`, `512MiB`, or bytes. */
export function parseBytes(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (match === null) throw new InvalidArgumentError('expected a size such as 128m, 2g or a number of bytes.');
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[match[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.round(Number(match[1]) * 1024 ** power);
  if (bytes < 8 * 2 ** 20) throw new InvalidArgumentError('a buffer pool under 8 MiB is not useful.');
  return bytes;
}

function warmPool(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : parseBytes(value);
}

function pools(value: string): PoolChoice[] {
  const chosen = value.split(',').map((part) => part.trim());
  for (const part of chosen) if (part !== 'warm' && part !== 'cold') throw new InvalidArgumentError('expected warm, cold or warm,cold.');
  return [...new Set(chosen as PoolChoice[])];
}

/** Parses `npm run bench -- …` flags. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const program = new Command('bench')
    .description(
      'coupon-audit benchmark: the raw GROUP BY scans (the floor, run by the stock mariadb/mysql client and through mysql2), ' +
        'the analysis query, a counter_culture-style audit, check and repair, interleaved round by round, ' +
        'on a warm and on a cold buffer pool; then start-up',
    )
    .option('--url <url>', 'server to run on (a database of its own is created there)', process.env['BENCH_DATABASE_URL'] ?? 'mysql://root@127.0.0.1:3306')
    .addOption(new Option('--scale <name>', 'data set shape').choices(Object.keys(SCALES)).default('5m'))
    .option('--database <name>', 'the benchmark database (default: one per scale; built once, reused while the shape matches)')
    .option('--settings <n>', 'settings (overrides the scale)', count)
    .option('--codes <n>', 'rows in g_coupons (overrides the scale)', count)
    .option('--uses <n>', 'rows in g_coupon_uses (overrides the scale)', count)
    .addOption(new Option('--distribution <d>', 'setting ids of the child rows: skewed (log-uniform) or flat (overrides the scale)').choices(['skewed', 'flat']))
    .option('--drift-percent <p>', 'settings given drifted caches before each round', percent, 1)
    .option('--runs <n>', 'interleaved rounds per pool; medians are reported', count, 3)
    .option('--startup-runs <n>', 'runs of `coupon-audit --version` and of `node -e 0`', count, 7)
    .option('--concurrency <n>', 'pass --concurrency to check and repair (default: the product default)', count)
    .addOption(
      new Option('--cli-arg <arg>', 'extra argument for check and repair (repeatable, e.g. --cli-arg=--page-size --cli-arg=1000)')
        .argParser((v: string, all: string[]) => [...all, v])
        .default([] as string[], 'none'),
    )
    .option('--warm-pool <size>', 'innodb_buffer_pool_size for the warm block: a size, or auto (2 GiB, more if the data needs it)', warmPool, 'auto' as const)
    .addOption(new Option('--cold-pool <size>', 'innodb_buffer_pool_size for the cold block').argParser(parseBytes).default(128 * 2 ** 20, '128m'))
    .addOption(new Option('--pools <list>', 'which blocks to run: warm, cold or warm,cold').argParser(pools).default(['warm', 'cold'], 'warm,cold'))
    .option('--build-time-limit <minutes>', 'give up building a data set after this long (the partial database is dropped)', count, 120)
    .option('--rebuild', 'rebuild the data set even if it matches', false)
    .option('--skip-repair', 'measure the scans and check only', false)
    .parse([...argv], { from: 'user' });
  const raw = program.opts<{
    url: string;
    scale: ScaleName;
    database?: string;
    settings?: number;
    codes?: number;
    uses?: number;
    distribution?: Distribution;
    driftPercent: number;
    runs: number;
    startupRuns: number;
    concurrency?: number;
    cliArg: string[];
    warmPool: number | 'auto';
    coldPool: number;
    pools: PoolChoice[];
    buildTimeLimit: number;
    rebuild: boolean;
    skipRepair: boolean;
  }>();
  const preset = SCALES[raw.scale];
  const custom = raw.settings !== undefined || raw.codes !== undefined || raw.uses !== undefined || raw.distribution !== undefined;
  const shape: Shape = {
    settings: raw.settings ?? preset.settings,
    codes: raw.codes ?? preset.codes,
    uses: raw.uses ?? preset.uses,
    distribution: raw.distribution ?? preset.distribution,
  };
  // A custom shape gets a database named after it, so it never replaces a preset's data set.
  const database =
    raw.database ??
    (custom ? `coupon_audit_bench_${shape.settings}s_${shape.codes}c_${shape.uses}u${shape.distribution === 'flat' ? '_flat' : ''}` : preset.database);
  return {
    ...shape,
    url: raw.url,
    scale: raw.scale,
    database,
    driftPercent: raw.driftPercent,
    runs: raw.runs,
    startupRuns: raw.startupRuns,
    concurrency: raw.concurrency,
    cliArgs: raw.cliArg,
    warmPool: raw.warmPool,
    coldPool: raw.coldPool,
    pools: raw.pools,
    buildTimeLimitMinutes: raw.buildTimeLimit,
    rebuild: raw.rebuild,
    skipRepair: raw.skipRepair,
  };
}
