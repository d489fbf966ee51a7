import { describe, expect, it } from 'vitest';
import { diagnose, engineChecks } from '../../src/core/diagnose.js';
import { auditScope, DEFAULT_MODEL } from '../../src/core/model.js';
import { engineSql, sessionSql } from '../../src/db/builder.js';
import { isRetryableLockError, toDatabaseError } from '../../src/db/database-error.js';
import { detectEngine, rowLocking, runLockKind, type ServerAnswers } from '../../src/db/engine.js';
import { serverInfoFrom } from '../../src/db/inspector.js';

/**
 * Engine profiles from recorded server answers (SELECT VERSION(), @@version_comment; SHOW VARIABLES;
 * SHOW STATUS; performance_schema.replication_group_members). The MariaDB and Galera answers were
 * recorded here (Debian 12's MariaDB 10.11.19, a 3-node cluster of it); the others are the answers
 * the engines' documentation and source give, since those engines cannot run on this machine.
 */

const mariadb: ServerAnswers = {
  version: '10.11.19-MariaDB-0+deb12u1',
  versionComment: 'Debian 12',
  variables: { hostname: 'db1', log_bin: 'OFF', binlog_format: 'ROW', read_only: 'OFF', wsrep_on: 'OFF', wsrep_provider: 'none', wsrep_sync_wait: '0' },
};
/** Recorded on node 1 of the 3-node cluster test/galera.test.ts starts. */
const galera: ServerAnswers = {
  version: '10.11.19-MariaDB-0+deb12u1',
  versionComment: 'Debian 12',
  variables: {
    hostname: 'ci-runner',
    log_bin: 'OFF',
    binlog_format: 'ROW',
    read_only: 'OFF',
    wsrep_on: 'ON',
    wsrep_provider: '/usr/lib/galera/libgalera_smm.so',
    wsrep_node_name: 'node1',
    wsrep_sync_wait: '0',
  },
  status: { wsrep_cluster_size: '3', wsrep_cluster_status: 'Primary', wsrep_local_state_comment: 'Synced', wsrep_ready: 'ON' },
};
const pxc: ServerAnswers = {
  version: '8.0.35-27.1',
  versionComment: 'Percona XtraDB Cluster (GPL), Release rel27, Revision 2f8eed6, WSREP version 26.1.4.3',
  variables: { log_bin: 'ON', binlog_format: 'ROW', read_only: 'OFF', wsrep_on: 'ON', wsrep_provider: '/usr/lib/galera4/libgalera_smm.so', wsrep_node_name: 'pxc-2' },
  status: { wsrep_cluster_size: '3', wsrep_cluster_status: 'Primary', wsrep_local_state_comment: 'Synced', wsrep_ready: 'ON' },
};
const tidb: ServerAnswers = {
  version: '8.0.11-TiDB-v7.5.1',
  versionComment: 'TiDB Server (Apache License 2.0) Community Edition, MySQL 8.0 compatible',
  variables: { log_bin: '0', read_only: 'OFF', tidb_txn_mode: 'pessimistic', hostname: 'tidb-0' },
};
const vitess: ServerAnswers = {
  version: '8.0.30-Vitess',
  versionComment: "Version: 19.0.4 (Git revision 0b9a4ab branch 'HEAD') built on Tue Jun 4 10:15:23 UTC 2024 by vitess@buildkitsandbox using go1.22.3 linux/amd64",
  variables: {},
};
const groupReplication = (mode: 'single' | 'multi', consistency: string | null): ServerAnswers => ({
  version: '8.0.36',
  versionComment: 'MySQL Community Server - GPL',
  variables: {
    log_bin: 'ON',
    binlog_format: 'ROW',
    read_only: 'OFF',
    group_replication_group_name: 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa',
    group_replication_single_primary_mode: mode === 'single' ? 'ON' : 'OFF',
    ...(consistency === null ? {} : { group_replication_consistency: consistency }),
  },
  groupMembers: { online: 3, primaries: mode === 'single' ? 1 : 3 },
});
const aurora = (version: string, auroraVersion: string, reader = false): ServerAnswers => ({
  version,
  versionComment: 'Source distribution',
  variables: { aurora_version: auroraVersion, innodb_read_only: reader ? 'ON' : 'OFF', read_only: 'OFF', log_bin: 'OFF' },
});

describe('detectEngine on recorded answers', () => {
  it('one MariaDB or MySQL server: GET_LOCK, SKIP LOCKED by version (else NOWAIT, else one at a time)', () => {
    const engine = detectEngine(mariadb);
    expect(engine).toMatchObject({ kind: 'mariadb', flavor: 'MariaDB', supportsSkipLocked: true, supportsNowait: true, namedLockIsClusterWide: true, causalReads: true, readSetup: [], boundsMetadataLockWait: true, endsIdleTransactions: true });
    expect([rowLocking(engine), runLockKind(engine)]).toEqual(['skip-locked', 'named-lock']);
    expect(rowLocking(detectEngine({ ...mariadb, version: '10.5.22-MariaDB' }))).toBe('nowait');
    expect(rowLocking(detectEngine({ ...mariadb, version: '10.2.44-MariaDB' }))).toBe('one-at-a-time');
    expect(detectEngine({ ...mariadb, version: '8.0.36', versionComment: 'MySQL Community Server - GPL', variables: {} })).toMatchObject({ kind: 'mysql', supportsSkipLocked: true });
    expect(rowLocking(detectEngine({ version: '8.0.0-dmr', versionComment: '', variables: {} }))).toBe('one-at-a-time');
    expect(rowLocking(detectEngine({ version: '5.7.44-log', versionComment: 'MySQL Community Server (GPL)', variables: {} }))).toBe('one-at-a-time');
    // wsrep compiled in but off, or on with no provider: one server.
    expect(detectEngine({ ...mariadb, variables: { ...mariadb.variables, wsrep_on: 'ON', wsrep_provider: 'none' } }).kind).toBe('mariadb');
  });

  it('MariaDB Galera: a lease (GET_LOCK is per node), causal reads by wsrep_sync_wait, certification at COMMIT', () => {
    const engine = detectEngine(galera);
    expect(engine).toMatchObject({
      kind: 'galera',
      label: 'MariaDB Galera Cluster 10.11.19-MariaDB-0+deb12u1',
      supportsSkipLocked: true,
      namedLockIsClusterWide: false,
      causalReads: true,
      multiPrimary: true,
      certifiesAtCommit: true,
      nodes: 3,
      nodeName: 'node1',
      clusterState: { synced: true, primary: true, state: 'Synced', component: 'Primary', description: 'Synced, Primary component' },
      readSetup: [engineSql.wsrepCausalReads],
      writeSetup: [],
    });
    expect([rowLocking(engine), runLockKind(engine)]).toEqual(['skip-locked', 'lease']);
  });

  it('Percona XtraDB Cluster is Galera too (and refuses GET_LOCK outright)', () => {
    expect(detectEngine(pxc)).toMatchObject({ kind: 'galera', label: 'Percona XtraDB Cluster 8.0.35-27.1', supportsSkipLocked: true, namedLockIsClusterWide: false, nodeName: 'pxc-2' });
  });

  it('TiDB: never SKIP LOCKED (it drops FOR UPDATE there, pingcap/tidb#69720); NOWAIT batches; cluster-wide GET_LOCK; pessimistic writers', () => {
    const engine = detectEngine(tidb);
    expect(engine).toMatchObject({ kind: 'tidb', label: 'TiDB v7.5.1', supportsSkipLocked: false, supportsNowait: true, namedLockIsClusterWide: true, writeSetup: [], boundsMetadataLockWait: false, endsIdleTransactions: false });
    expect([rowLocking(engine), runLockKind(engine)]).toEqual(['nowait', 'named-lock']);
    // A cluster whose default is optimistic: the repair session asks for pessimistic transactions.
    expect(detectEngine({ ...tidb, variables: { ...tidb.variables, tidb_txn_mode: 'optimistic' } }).writeSetup).toEqual([engineSql.tidbPessimistic]);
  });

  it('Vitess (vtgate): neither SKIP LOCKED nor NOWAIT, one setting per transaction; GET_LOCK routed to one shard; no isolation across shards', () => {
    const engine = detectEngine(vitess);
    expect(engine).toMatchObject({ kind: 'vitess', supportsSkipLocked: false, supportsNowait: false, namedLockIsClusterWide: true, crossShardIsolation: false });
    expect([rowLocking(engine), runLockKind(engine)]).toEqual(['one-at-a-time', 'named-lock']);
    // A vtgate started with --mysql-server-version of its own still says so in its version comment.
    expect(detectEngine({ ...vitess, version: '8.0.36' }).kind).toBe('vitess');
  });

  it('Group Replication: a lease (named locks are per member); causal reads by group_replication_consistency where it exists', () => {
    const multi = detectEngine(groupReplication('multi', 'EVENTUAL'));
    expect(multi).toMatchObject({ kind: 'group-replication', multiPrimary: true, namedLockIsClusterWide: false, causalReads: true, nodes: 3 });
    expect(multi.readSetup).toEqual([engineSql.groupReplicationCausalReads]);
    expect(runLockKind(multi)).toBe('lease');
    const single = detectEngine(groupReplication('single', 'BEFORE_AND_AFTER'));
    expect(single).toMatchObject({ multiPrimary: false, causalReads: true, readSetup: [] });
    expect(detectEngine({ ...groupReplication('single', null), version: '8.0.13' })).toMatchObject({ causalReads: false, readSetup: [] });
    // The plugin loaded but the group not running (no ONLINE member): one server.
    expect(detectEngine({ ...groupReplication('multi', 'EVENTUAL'), groupMembers: { online: 0, primaries: 0 } }).kind).toBe('mysql');
  });

  it('Aurora MySQL: 2 (5.7) locks one at a time, 3 (8.0) with SKIP LOCKED; one writer, so GET_LOCK; a reader is not causal', () => {
    expect(rowLocking(detectEngine(aurora('5.7.12', '2.11.2')))).toBe('one-at-a-time');
    const three = detectEngine(aurora('8.0.32', '3.05.2'));
    expect(three).toMatchObject({ kind: 'aurora', label: 'Aurora MySQL 3.05.2 (MySQL 8.0.32)', supportsSkipLocked: true, namedLockIsClusterWide: true, causalReads: true });
    expect(detectEngine(aurora('8.0.32', '3.05.2', true)).causalReads).toBe(false);
  });

  it('server facts come from the same answers (ON/OFF and 1/0 alike)', () => {
    expect(serverInfoFrom(galera)).toMatchObject({ flavor: 'MariaDB', logBin: false, binlogFormat: 'ROW', readOnly: false });
    expect(serverInfoFrom({ ...tidb, variables: { ...tidb.variables, log_bin: '1', read_only: '1' } })).toMatchObject({ logBin: true, readOnly: true, binlogFormat: null });
  });
});

describe('doctor prints the engine and the advice that matters', () => {
  const line = (answers: ServerAnswers) => engineChecks(detectEngine(answers)).map((check) => `${check.status} ${check.name}: ${check.detail}`);

  it('one server: the engine and how it locks, nothing else', () => {
    expect(line(mariadb)).toEqual([
      'ok engine: MariaDB 10.11.19-MariaDB-0+deb12u1: run lock: GET_LOCK; rows locked in batches with FOR UPDATE SKIP LOCKED',
    ]);
  });

  it('Galera: nodes and state, the lease, causal reads, and where to run repair', () => {
    expect(line(galera)).toEqual([
      'ok engine: MariaDB Galera Cluster 10.11.19-MariaDB-0+deb12u1, 3 nodes (Synced, Primary component): run lock: a lease row in ' +
        'coupon_audit_run_lock (GET_LOCK is per node here); rows locked in batches with FOR UPDATE SKIP LOCKED; reads wait for the ' +
        'cluster (wsrep_sync_wait); deadlocks at COMMIT (certification) retried',
      expect.stringMatching(/^info where to repair: multi-primary: run repair through the node \(or proxy\) the application writes to\./),
    ]);
    const partitioned = engineChecks(detectEngine({ ...galera, status: { ...galera.status, wsrep_cluster_status: 'non-Primary', wsrep_cluster_size: '1' } }));
    expect(partitioned[0]).toMatchObject({ status: 'fail', fix: expect.stringMatching(/Primary component/) });
    // One node left alone: "1 node"; no advice on where to repair through a node that refuses everything.
    expect(partitioned[0]!.detail).toContain(', 1 node (');
    expect(partitioned.map((check) => check.name)).not.toContain('where to repair');
    const joining = engineChecks(detectEngine({ ...galera, status: { ...galera.status, wsrep_local_state_comment: 'Joining' } }));
    expect(joining[0]?.status).toBe('warn');
  });

  it('TiDB and Vitess: what the tool does differently there', () => {
    expect(line(tidb)).toEqual([
      'ok engine: TiDB v7.5.1: run lock: GET_LOCK; rows locked in batches with FOR UPDATE NOWAIT (no SKIP LOCKED here)',
      expect.stringMatching(/^info tidb: TiDB ignores FOR UPDATE when SKIP LOCKED is present \(pingcap\/tidb#69720\)/),
    ]);
    expect(line(vitess)).toEqual([
      'ok engine: Vitess (vtgate, MySQL 8.0.30): run lock: GET_LOCK; one setting per transaction, plain FOR UPDATE (no SKIP LOCKED or NOWAIT here)',
      expect.stringMatching(/^warn shards: repair locks one setting per transaction .* exact only when a setting and its coupons and uses live on one shard/),
    ]);
  });

  it('Group Replication without causal reads, and an Aurora reader, are warned about', () => {
    expect(line({ ...groupReplication('single', null), version: '8.0.13' })).toEqual([
      expect.stringMatching(/^ok engine: MySQL Group Replication 8.0.13 \(single-primary\), 3 members: run lock: a lease row/),
      'info where to repair: single-primary: repair runs through the primary (the other members are read-only)',
      expect.stringMatching(/^warn consistent reads: .*may miss the newest commits/),
    ]);
    expect(line(aurora('8.0.32', '3.05.2', true))).toContainEqual(expect.stringMatching(/^warn consistent reads: this is a reader instance/));
  });

  it('advice is not a problem: a healthy Galera node is healthy; a missing lease grant is named with its fix', () => {
    const facts = {
      target: 'app@db:3306/shop',
      user: 'app',
      database: 'shop',
      server: serverInfoFrom(galera),
      scope: auditScope(DEFAULT_MODEL),
      schemaProblems: [],
      missingSelect: [],
      unindexed: [],
      privileges: {
        select: ['g_coupon_settings', 'g_coupons', 'g_coupon_uses'].map((table) => ({ table, granted: true })),
        update: true,
        updateMissing: null,
        selectMissing: [],
        audit: { table: 'coupon_audit_log', exists: true, insert: true, missingColumn: null, create: null, insertGranted: null },
        lease: { table: 'coupon_audit_run_lock', exists: true, missing: [] as ('INSERT' | 'UPDATE' | 'DELETE')[], create: null },
      },
      grantSql: (privileges: string, table: string) => `GRANT ${privileges} ON shop.${table} TO app;`,
    };
    expect(diagnose(facts).healthy).toBe(true);
    const noLeaseWrites = diagnose({ ...facts, privileges: { ...facts.privileges, lease: { ...facts.privileges.lease, missing: ['DELETE'] } } });
    expect(noLeaseWrites.checks.find((check) => check.name === 'privileges for repair')).toMatchObject({
      status: 'fail',
      fix: 'GRANT INSERT, UPDATE, DELETE ON shop.coupon_audit_run_lock TO app;',
    });
  });
});

describe('lock errors the engines answer', () => {
  const driverError = (errno: number, code: string) => Object.assign(new Error(code), { errno, code });
  it('a NOWAIT refusal (3572 on MySQL and TiDB, 1205 on MariaDB) and a certification failure (1213 at COMMIT) redo the transaction', () => {
    expect(isRetryableLockError(driverError(3572, 'ER_LOCK_NOWAIT'))).toBe(true);
    expect(isRetryableLockError(driverError(1205, 'ER_LOCK_WAIT_TIMEOUT'))).toBe(true);
    expect(isRetryableLockError(driverError(1213, 'ER_LOCK_DEADLOCK'))).toBe(true);
    // Group Replication's certification failure ("Plugin instructed the server to rollback the current transaction").
    expect(isRetryableLockError(driverError(3101, 'ER_TRANSACTION_ROLLBACK_DURING_COMMIT'))).toBe(true);
    const during = (message: string) => Object.assign(driverError(1180, 'ER_ERROR_DURING_COMMIT'), { sqlMessage: message });
    expect(isRetryableLockError(during("Got error 149 - 'Lock deadlock; Retry transaction' during COMMIT"))).toBe(true);
    expect(isRetryableLockError(during("Got error 28 - 'No space left on device' during COMMIT"))).toBe(false);
    // Not a lock error: a node out of the Primary component refuses everything until it rejoins.
    expect(isRetryableLockError(driverError(1047, 'ER_UNKNOWN_COM_ERROR'))).toBe(false);
  });
  it('a Galera node outside the Primary component is named, with what to do (exit 3)', () => {
    const error = Object.assign(new Error('x'), { errno: 1047, code: 'ER_UNKNOWN_COM_ERROR', sqlMessage: 'WSREP has not yet prepared node for application use' });
    const config = { host: '10.0.0.3', port: 3306, user: 'app', password: undefined, database: 'shop', connectTimeoutMs: 5000 } as unknown as Parameters<typeof toDatabaseError>[1];
    const mapped = toDatabaseError(error, config, 'repairing settings 1…9');
    expect(mapped.exitCode).toBe(3);
    expect(mapped.message).toBe(
      "The cluster node 10.0.0.3:3306 is not ready (while repairing settings 1…9): it is not in the cluster's Primary component " +
        '(WSREP has not yet prepared node for application use); connect through another node, or wait until this one has rejoined.',
    );
  });
});

describe("the connection's collation (inspector.ts useEngine: sessionSql.names)", () => {
  const collationOf = (variables: Record<string, string>) => serverInfoFrom({ version: '10.11.19-MariaDB', versionComment: '', variables }).databaseCollation;

  it("is the --url database's where its character set is utf8mb4, else none (the driver's, as before)", () => {
    expect(collationOf({ character_set_database: 'utf8mb4', collation_database: 'utf8mb4_unicode_ci' })).toBe('utf8mb4_unicode_ci');
    expect(collationOf({ character_set_database: 'utf8mb4', collation_database: 'utf8mb4_uca1400_as_cs' })).toBe('utf8mb4_uca1400_as_cs');
    expect(collationOf({ character_set_database: 'utf8mb3', collation_database: 'utf8mb3_general_ci' })).toBeNull();
    expect(collationOf({ character_set_database: 'latin1', collation_database: 'latin1_swedish_ci' })).toBeNull();
    expect(collationOf({ character_set_database: 'utf8mb4', collation_database: "utf8mb4_x' OR 1" })).toBeNull();
    expect(collationOf({})).toBeNull();
    expect(sessionSql.names('utf8mb4_unicode_ci')).toBe("/* coupon-audit */ SET NAMES utf8mb4 COLLATE 'utf8mb4_unicode_ci'");
  });
});
