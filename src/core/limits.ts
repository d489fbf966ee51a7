/**
 * The ranges of the run-shaping options, in a module of their own so that the CLI's option
 * definitions (and --help) do not load the database layer.
 */

/** Settings per detection statement (--page-size). */
export const PAGE_SIZE_RANGE = { min: 1, max: 100_000 } as const;
/** Where a fixed page size would start; adaptive pages start smaller (detect-drift.ts). */
export const DEFAULT_PAGE_SIZE = 2000;
/** Settings per repair transaction (--batch-size). */
export const BATCH_SIZE_RANGE = { min: 1, max: 1000 } as const;
/** Detection statements at once (--concurrency), each on its own connection. */
export const CONCURRENCY_RANGE = { min: 1, max: 16 } as const;
/**
 * Four: where the pages wait on the disk, each statement in flight is a read the disk serves at
 * once. On the 2-core bench VM (check, by hand, 2 against 4): 5M codes with a 128 MiB pool 1.20-1.23 s
 * against 0.91-0.92 s, 1.2M settings 1.66-1.69 s against 1.28-1.33 s; with the data cached 1.2M
 * settings 0.99-1.03 s against 0.92-0.94 s, 5M codes 0.53-0.59 s against 0.53-0.54 s. Six
 * was faster still cold (0.81-0.85 s and 1.20-1.23 s), at two more connections and pages held.
 */
export const DEFAULT_CONCURRENCY = 4;
/** Repair transactions at once (--write-concurrency), each on its own connection. */
export const WRITE_CONCURRENCY_RANGE = { min: 1, max: 16 } as const;
export const DEFAULT_WRITE_CONCURRENCY = 2;
/** innodb_lock_wait_timeout of the repair session, in seconds (--lock-wait-timeout): a batch's wait, retried whole. */
export const LOCK_WAIT_TIMEOUT_RANGE = { min: 1, max: 60 } as const;
export const DEFAULT_LOCK_WAIT_TIMEOUT = 2;
/**
 * lock_wait_timeout of every read, in seconds (--metadata-lock-wait): how long a statement waits for
 * a table's metadata lock, which an ALTER TABLE or LOCK TABLES ahead of it holds or is queued for,
 * before the run stops (exit 3). The server's own default is a day (MariaDB) or a year (MySQL).
 */
export const METADATA_LOCK_WAIT_RANGE = { min: 1, max: 86_400 } as const;
export const DEFAULT_METADATA_LOCK_WAIT = 60;
/** Where adaptive repair batches start. */
export const INITIAL_BATCH_SIZE = 50;
/**
 * What adaptive repair batches aim at, in ms per transaction. Well below the 100 ms the lock hold
 * should stay under at p99: transactions vary around their target with the server's other work
 * (npm run bench, many-settings, 12,000 settings repaired in 20-35 transactions: at 100 ms the p99
 * was 109-132 ms; at 60 ms 87-116 ms; at 40 ms 58-89 ms, with the run about 3 % longer).
 */
export const TARGET_TRANSACTION_MS = 40;

/** --max-changes: settings a repair may change before it refuses to write anything. */
export const MAX_CHANGES_RANGE = { min: 0, max: 1_000_000_000 } as const;
