import { engineSql } from './builder.js';

/**
 * Engine profiles, in the manner of Kysely's dialect adapters: one interface of named capability
 * flags, detected once at connect from what the server says about itself (its variables, its
 * version string, its cluster status), and read by the rest of the tool instead of version checks
 * scattered through it. Detection is a pure function of those answers, so the profiles of engines
 * that cannot run here (TiDB, Vitess, Group Replication, Aurora) are unit-tested on recorded answers.
 */

export type EngineKind = 'mysql' | 'mariadb' | 'galera' | 'group-replication' | 'tidb' | 'vitess' | 'aurora';

export interface EngineProfile {
  kind: EngineKind;
  /** For people: "MariaDB Galera Cluster 10.11.19-MariaDB-0+deb12u1". */
  label: string;
  flavor: 'MariaDB' | 'MySQL';
  version: string;
  /** `FOR UPDATE SKIP LOCKED` works as written (not refused, not silently ignored). */
  supportsSkipLocked: boolean;
  /** `FOR UPDATE NOWAIT` works as written. */
  supportsNowait: boolean;
  /** GET_LOCK excludes every session of the whole database (one server, or a cluster-wide lock service). */
  namedLockIsClusterWide: boolean;
  /** Reads (after `readSetup`) see every commit made anywhere before they started. */
  causalReads: boolean;
  /** More than one node accepts writes, and row locks are local to a node. */
  multiPrimary: boolean;
  /** Conflicts with writes through other nodes surface as deadlocks (1213) at COMMIT (certification). */
  certifiesAtCommit: boolean;
  /** A transaction that spans shards has no isolation across them (Vitess). */
  crossShardIsolation: boolean;
  /** Cluster members as this node counts them; null for one server or when unknown. */
  nodes: number | null;
  /** This node's name in its cluster (wsrep_node_name), or the server's host name. */
  nodeName: string | null;
  /** Cluster state of this node when it is a member of one ("Synced, Primary"); null otherwise. */
  /** A Galera node's wsrep_local_state_comment (`state`) and wsrep_cluster_status (`component`). */
  clusterState: { synced: boolean; primary: boolean; state: string; component: string; description: string } | null;
  /** Session statements for every connection (causal reads). */
  readSetup: string[];
  /** Session statements for the repair connection, before its isolation level (TiDB: pessimistic locking). */
  writeSetup: string[];
  /**
   * lock_wait_timeout bounds a wait for a table's metadata lock (MySQL, MariaDB): the repair session
   * sets it with its row-lock wait, so an ALTER queued on the audit table cannot keep a batch's rows
   * locked for the default year. Not sent to TiDB or Vitess, whose metadata locking differs.
   */
  boundsMetadataLockWait: boolean;
  /** The server ends a transaction left idle (MariaDB 10.3+ idle_transaction_timeout): a stopped client's locks do not outlive it by hours. */
  endsIdleTransactions: boolean;
  /**
   * information_schema.TRIGGERS lists a table's triggers to an account that may update it, without
   * the TRIGGER privilege (MariaDB; MySQL shows them only with it): none listed means none, so
   * repair need not read its batches back (core/repair.ts takenWrites).
   */
  listsTriggersToWriters: boolean;
  /** The engine's documented behaviour that the tool works around, for doctor and the README. */
  notes: string[];
}

/** What the server said, as inspector.ts reads it (and as tests record it). */
export interface ServerAnswers {
  /** `SELECT VERSION()`. */
  version: string;
  /** `@@version_comment`. */
  versionComment: string;
  /** Rows of `SHOW VARIABLES` for ENGINE_VARIABLES (the ones the server has), names lower-case. */
  variables: Record<string, string>;
  /** Rows of `SHOW STATUS` for the wsrep cluster status, when wsrep is on. */
  status?: Record<string, string>;
  /** Members of the replication group: ONLINE ones, and PRIMARY ones among them; null when not read. */
  groupMembers?: { online: number; primaries: number } | null;
}

/** The server variables detection reads (SHOW VARIABLES answers only those a server has). */
export const ENGINE_VARIABLES = [
  'hostname',
  'log_bin',
  'binlog_format',
  'read_only',
  'innodb_read_only',
  'wsrep_on',
  'wsrep_provider',
  'wsrep_node_name',
  'wsrep_sync_wait',
  'aurora_version',
  'tidb_txn_mode',
  'group_replication_group_name',
  'group_replication_single_primary_mode',
  'group_replication_consistency',
  // The --url database's own (session) defaults: the connection collation (inspector.ts useEngine).
  'character_set_database',
  'collation_database',
  // NO_BACKSLASH_ESCAPES in it is taken out of every session (inspector.ts useEngine).
  'sql_mode',
] as const;

/** wsrep status variables read when wsrep is on. */
export const WSREP_STATUS = ['wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_ready'] as const;

/** How repair locks a batch's setting rows on this engine. */
export type RowLocking =
  /** Batches with SKIP LOCKED; rows others hold are then taken one at a time with a plain FOR UPDATE. */
  | 'skip-locked'
  /** Batches with NOWAIT; a batch that meets a held row is retried one setting at a time. */
  | 'nowait'
  /** One setting per transaction, plain FOR UPDATE: never more than one lock held while waiting. */
  | 'one-at-a-time';

export function rowLocking(engine: Pick<EngineProfile, 'supportsSkipLocked' | 'supportsNowait'>): RowLocking {
  if (engine.supportsSkipLocked) return 'skip-locked';
  if (engine.supportsNowait) return 'nowait';
  return 'one-at-a-time';
}

/** The run lock: GET_LOCK where it excludes the whole database, else a lease row the tool writes. */
export type RunLockKind = 'named-lock' | 'lease';

export function runLockKind(engine: Pick<EngineProfile, 'namedLockIsClusterWide'>): RunLockKind {
  return engine.namedLockIsClusterWide ? 'named-lock' : 'lease';
}

const on = (value: string | undefined): boolean => value !== undefined && /^(on|1|true|yes)$/i.test(value.trim());

/** Major, minor, patch of the leading "8.0.32" of a version string. */
export function versionNumbers(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  return [major, minor, patch];
}

function atLeast(version: string, m: number, n: number, p: number): boolean {
  const [major, minor, patch] = versionNumbers(version);
  return major > m || (major === m && (minor > n || (minor === n && patch >= p)));
}

/** SKIP LOCKED and NOWAIT by version: MariaDB 10.6 / 10.3, MySQL 8.0.1 (both). */
function lockingByVersion(flavor: 'MariaDB' | 'MySQL', version: string): { supportsSkipLocked: boolean; supportsNowait: boolean } {
  if (flavor === 'MariaDB') return { supportsSkipLocked: atLeast(version, 10, 6, 0), supportsNowait: atLeast(version, 10, 3, 0) };
  const modern = atLeast(version, 8, 0, 1);
  return { supportsSkipLocked: modern, supportsNowait: modern };
}

/** Tells the engine from the server's answers. Pure: the same answers always give the same profile. */
export function detectEngine(answers: ServerAnswers): EngineProfile {
  const v = answers.variables;
  const { version, versionComment } = answers;
  const flavor: 'MariaDB' | 'MySQL' = /mariadb/i.test(version) ? 'MariaDB' : 'MySQL';
  const byVersion = lockingByVersion(flavor, version);
  const base: EngineProfile = {
    kind: flavor === 'MariaDB' ? 'mariadb' : 'mysql',
    label: `${flavor} ${version}`,
    flavor,
    version,
    ...byVersion,
    namedLockIsClusterWide: true,
    causalReads: true,
    multiPrimary: false,
    certifiesAtCommit: false,
    crossShardIsolation: true,
    nodes: null,
    nodeName: v['hostname'] ?? null,
    clusterState: null,
    readSetup: [],
    writeSetup: [],
    boundsMetadataLockWait: true,
    endsIdleTransactions: flavor === 'MariaDB' && atLeast(version, 10, 3, 0),
    listsTriggersToWriters: flavor === 'MariaDB',
    notes: [],
  };

  if (/tidb/i.test(version)) {
    return {
      ...base,
      kind: 'tidb',
      label: `TiDB ${version.replace(/^.*?-TiDB-/i, '')}`,
      flavor: 'MySQL',
      // TiDB drops FOR UPDATE when SKIP LOCKED is present (pingcap/tidb#69720): never send it there.
      supportsSkipLocked: false,
      supportsNowait: true,
      namedLockIsClusterWide: true,
      causalReads: true,
      writeSetup: v['tidb_txn_mode']?.toLowerCase() === 'pessimistic' ? [] : [engineSql.tidbPessimistic],
      boundsMetadataLockWait: false,
      endsIdleTransactions: false,
      notes: [
        'TiDB ignores FOR UPDATE when SKIP LOCKED is present (pingcap/tidb#69720): repair locks batches with FOR UPDATE NOWAIT and takes the rows the application holds one at a time',
        'READ COMMITTED needs pessimistic transactions: the repair session uses tidb_txn_mode = pessimistic',
        'GET_LOCK is cluster-wide in TiDB: the run lock is GET_LOCK, as on one server',
      ],
    };
  }

  if (/vitess/i.test(version) || /vitess/i.test(versionComment)) {
    return {
      ...base,
      kind: 'vitess',
      label: `Vitess (vtgate, MySQL ${version.replace(/-vitess.*$/i, '')})`,
      flavor: 'MySQL',
      supportsSkipLocked: false,
      supportsNowait: false,
      // Lock functions are routed to one shard's primary for every vtgate (a reserved connection).
      namedLockIsClusterWide: true,
      causalReads: true,
      crossShardIsolation: false,
      boundsMetadataLockWait: false,
      endsIdleTransactions: false,
      nodeName: null,
      notes: [
        'Vitess rejects SKIP LOCKED: repair locks one setting per transaction with a plain FOR UPDATE',
        'a transaction that spans shards is READ COMMITTED with no isolation across them: counts are exact only when a setting and its coupons and uses live on one shard (shard the child tables by settingId)',
        'GET_LOCK works only as SELECT GET_LOCK(…) without FROM, routed to one shard: the run lock is that',
      ],
    };
  }

  const wsrep = on(v['wsrep_on']) && (v['wsrep_provider'] ?? 'none').toLowerCase() !== 'none';
  if (wsrep) {
    const status = answers.status ?? {};
    const size = Number.parseInt(status['wsrep_cluster_size'] ?? '', 10);
    const state = status['wsrep_local_state_comment'] ?? 'unknown';
    const component = status['wsrep_cluster_status'] ?? 'unknown';
    const pxc = /xtradb cluster/i.test(versionComment);
    return {
      ...base,
      kind: 'galera',
      label: `${pxc ? 'Percona XtraDB Cluster' : flavor === 'MariaDB' ? 'MariaDB Galera Cluster' : 'Galera Cluster'} ${version}`,
      // GET_LOCK is local to a node (and refused under wsrep by newer MariaDB, MDEV-30473, and by PXC).
      namedLockIsClusterWide: false,
      causalReads: true,
      multiPrimary: true,
      certifiesAtCommit: true,
      nodes: Number.isFinite(size) ? size : null,
      nodeName: v['wsrep_node_name'] ?? base.nodeName,
      clusterState: {
        synced: state === 'Synced',
        primary: component === 'Primary',
        state,
        component,
        description: `${state}, ${component === 'Primary' ? 'Primary component' : `${component} (not the Primary component)`}`,
      },
      readSetup: [engineSql.wsrepCausalReads],
      notes: [
        'GET_LOCK is local to a node (newer MariaDB releases refuse it under wsrep, MDEV-30473): the run lock is a lease row every node sees, taken and renewed by writes that certify cluster-wide',
        'a node applies other nodes’ commits a moment later: check and repair read with wsrep_sync_wait, so they see every commit made before they started',
        'row locks are local to a node: a conflict with a write through another node aborts one of the two at COMMIT (a deadlock error); repair retries its side',
      ],
    };
  }

  const members = answers.groupMembers ?? null;
  if ((v['group_replication_group_name'] ?? '') !== '' && members !== null && members.online > 0) {
    const singlePrimary = v['group_replication_single_primary_mode'] === undefined ? members.primaries === 1 : on(v['group_replication_single_primary_mode']);
    const consistency = (v['group_replication_consistency'] ?? '').toUpperCase();
    const hasConsistency = consistency !== '';
    const alreadyCausal = consistency === 'BEFORE' || consistency === 'BEFORE_AND_AFTER';
    return {
      ...base,
      kind: 'group-replication',
      label: `MySQL Group Replication ${version} (${singlePrimary ? 'single-primary' : 'multi-primary'})`,
      namedLockIsClusterWide: false,
      causalReads: hasConsistency,
      multiPrimary: !singlePrimary,
      certifiesAtCommit: true,
      nodes: members.online,
      readSetup: hasConsistency && !alreadyCausal ? [engineSql.groupReplicationCausalReads] : [],
      notes: [
        'named locks are per member and certification ignores them: the run lock is a lease row every member sees',
        hasConsistency
          ? 'reads use group_replication_consistency = BEFORE, so they see every transaction the group committed before them'
          : 'this MySQL has no group_replication_consistency (8.0.14+): a check through a secondary may miss the newest commits',
        singlePrimary ? 'single-primary: repair must run through the primary (the others are read-only)' : 'multi-primary: a conflict with a write through another member aborts one of the two at COMMIT (error 3101); repair retries its side',
      ],
    };
  }

  if (v['aurora_version'] !== undefined) {
    const reader = on(v['innodb_read_only']);
    return {
      ...base,
      kind: 'aurora',
      label: `Aurora MySQL ${v['aurora_version']} (MySQL ${version}${reader ? ', a reader instance' : ''})`,
      flavor: 'MySQL',
      // One writer instance: its GET_LOCK is the whole cluster's.
      namedLockIsClusterWide: true,
      causalReads: !reader,
      notes: [
        byVersion.supportsSkipLocked
          ? 'Aurora MySQL 3 has SKIP LOCKED: repair locks as on MySQL 8'
          : 'Aurora MySQL 2 (MySQL 5.7) has neither SKIP LOCKED nor NOWAIT: repair locks one setting per transaction',
        reader
          ? 'this is a reader instance: it lags the writer and refuses writes; point check and repair at the cluster (writer) endpoint'
          : 'one writer instance: GET_LOCK there is the whole cluster’s run lock',
      ],
    };
  }

  const notes = byVersion.supportsSkipLocked
    ? []
    : [
        byVersion.supportsNowait
          ? `${flavor} ${version} has no SKIP LOCKED: repair locks batches with NOWAIT and takes the rows the application holds one at a time`
          : `${flavor} ${version} has neither SKIP LOCKED nor NOWAIT: repair locks one setting per transaction`,
      ];
  return { ...base, notes };
}
