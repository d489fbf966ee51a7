import { DatabaseError } from '../errors.js';
import { loadSql, replicationSql } from './builder.js';
import type { Database, Row } from './database.js';
import { isPrivilegeError, toDatabaseError } from './database-error.js';
import { grantSql, learnAccount, type ServerInfo } from './inspector.js';

/**
 * What differs between MariaDB and MySQL replication, behind one small interface of named
 * capabilities; the code that uses them (core/replica.ts, core/throttle.ts) never asks which engine
 * it talks to.
 *
 *   MariaDB: @@gtid_binlog_pos, MASTER_GTID_WAIT(), SHOW SLAVE STATUS (needs SLAVE MONITOR)
 *   MySQL:   @@gtid_executed (needs gtid_mode=ON), WAIT_FOR_EXECUTED_GTID_SET(),
 *            SHOW REPLICA STATUS from 8.0.22 (SHOW SLAVE STATUS before), REPLICATION CLIENT
 */
export interface ReplicationDialect {
  readonly engine: 'MariaDB' | 'MySQL';
  /** Capability: the set of transactions the primary has committed so far, as a position string. */
  readonly primaryPosition: {
    readonly sql: string;
    /** The position, or why this primary's position cannot prove anything. */
    read(row: Row | undefined): { position: string } | { unusable: string };
  };
  /** Capability: block on the replica until it has applied a position, or until the timeout. */
  readonly waitForPosition: {
    readonly name: string;
    sql(position: string, timeoutSeconds: number): string;
    reached(value: unknown): boolean;
  };
  /**
   * Capability, where the wait alone does not prove that the replica follows this primary: the
   * replica's applied position, to be compared with the primary's (foreignHistory). MariaDB's
   * MASTER_GTID_WAIT compares a domain's sequence numbers only, so the replica of another server
   * whose count of transactions is higher passes it. MySQL's GTIDs name their server (its UUID):
   * a replica of another server never reaches the primary's set. null: the wait proves it.
   */
  readonly appliedPosition: { readonly sql: string } | null;
  /** Capability: the replica's threads, lag and last errors. */
  readonly replicaStatus: {
    readonly sql: string;
    /** What a user needs to read it. */
    readonly privilege: string;
  };
}

const MARIADB: ReplicationDialect = {
  engine: 'MariaDB',
  primaryPosition: {
    sql: replicationSql.mariadbPrimaryPosition,
    read: (row) => {
      if (Number(row?.['logBin'] ?? 0) !== 1) return { unusable: 'it writes no binary log (log_bin=OFF), so no replica can follow it' };
      // Empty: nothing was ever logged (a fresh RESET MASTER), so there is nothing to wait for.
      return { position: String(row?.['position'] ?? '').trim() };
    },
  },
  waitForPosition: {
    name: 'MASTER_GTID_WAIT',
    sql: replicationSql.mariadbWait,
    reached: (value) => value !== null && value !== undefined && Number(value) === 0,
  },
  appliedPosition: { sql: replicationSql.mariadbAppliedPosition },
  replicaStatus: { sql: replicationSql.slaveStatus, privilege: 'SLAVE MONITOR' },
};

function mysqlDialect(server: ServerInfo): ReplicationDialect {
  return {
    engine: 'MySQL',
    primaryPosition: {
      sql: replicationSql.mysqlPrimaryPosition,
      read: (row) => {
        if (Number(row?.['logBin'] ?? 0) !== 1) return { unusable: 'it writes no binary log (log_bin=OFF), so no replica can follow it' };
        if (String(row?.['gtidMode'] ?? '').toUpperCase() !== 'ON') {
          return { unusable: `its gtid_mode is ${String(row?.['gtidMode'] ?? 'OFF')}; set gtid_mode=ON so a replica's position can be compared with it` };
        }
        return { position: String(row?.['position'] ?? '').trim() };
      },
    },
    waitForPosition: {
      name: 'WAIT_FOR_EXECUTED_GTID_SET',
      sql: replicationSql.mysqlWait,
      reached: (value) => value !== null && value !== undefined && Number(value) === 0,
    },
    appliedPosition: null,
    replicaStatus: {
      sql: atLeast(server.version, 8, 0, 22) ? replicationSql.replicaStatus : replicationSql.slaveStatus,
      privilege: 'REPLICATION CLIENT',
    },
  };
}

export function replicationDialect(server: ServerInfo): ReplicationDialect {
  return server.flavor === 'MariaDB' ? MARIADB : mysqlDialect(server);
}

function atLeast(version: string, major: number, minor: number, patch: number): boolean {
  const [a = 0, b = 0, c = 0] = version.split(/[.-]/).map((part) => Number.parseInt(part, 10) || 0);
  return a > major || (a === major && (b > minor || (b === minor && c >= patch)));
}

/** One replication channel as SHOW SLAVE/REPLICA STATUS shows it, in either spelling. */
export interface ReplicaState {
  /** Yes, No or Connecting. */
  io: string;
  sql: string;
  /** Seconds_Behind_Master/Source; null when the server does not know (a thread is stopped). */
  lagSeconds: number | null;
  lastError: string | null;
  /** What the SQL thread is doing (Slave_SQL_Running_State), for messages. */
  sqlState: string | null;
}

/** Parses SHOW SLAVE STATUS / SHOW REPLICA STATUS rows (one per channel). */
export function readReplicaStates(rows: readonly Row[]): ReplicaState[] {
  return rows.map((row) => {
    const field = (...names: string[]): unknown => names.map((name) => row[name]).find((v) => v !== undefined && v !== null && v !== '');
    const lag = field('Seconds_Behind_Master', 'Seconds_Behind_Source');
    const errors = [
      ['SQL', field('Last_SQL_Errno'), field('Last_SQL_Error')],
      ['IO', field('Last_IO_Errno'), field('Last_IO_Error')],
    ]
      .filter(([, errno]) => errno !== undefined && Number(errno) !== 0)
      .map(([thread, errno, message]) => `last ${String(thread)} error ${String(errno)}: ${String(message ?? '')}`.trim());
    return {
      io: String(field('Slave_IO_Running', 'Replica_IO_Running') ?? 'No'),
      sql: String(field('Slave_SQL_Running', 'Replica_SQL_Running') ?? 'No'),
      lagSeconds: lag === undefined ? null : Number(lag),
      lastError: errors.length === 0 ? null : errors.join('; '),
      sqlState: (field('Slave_SQL_Running_State', 'Replica_SQL_Running_State') as string | undefined) ?? null,
    };
  });
}

/** The primary's position; a DatabaseError when that server cannot be a replica's primary. */
export async function primaryPosition(primary: Database, dialect: ReplicationDialect): Promise<string> {
  const [row] = await primary.query(dialect.primaryPosition.sql, 'reading the primary\'s replication position');
  const read = dialect.primaryPosition.read(row);
  if ('unusable' in read) {
    throw new DatabaseError(`--url ${primary.config.host}:${primary.config.port} cannot be checked against a replica: ${read.unusable}.`);
  }
  return read.position;
}

/** Waits on the replica up to `timeoutSeconds` for `position`; true when it has applied it. */
export async function waitForPosition(replica: Database, dialect: ReplicationDialect, position: string, timeoutSeconds: number): Promise<boolean> {
  if (position === '') return true;
  const [row] = await replica.query(dialect.waitForPosition.sql(position, timeoutSeconds), 'waiting for the replica to apply the primary\'s writes');
  return dialect.waitForPosition.reached(row?.['waited']);
}

/** The replica's applied position (ReplicationDialect.appliedPosition), or null where the dialect has none to read. */
export async function appliedPosition(replica: Database, dialect: ReplicationDialect): Promise<string | null> {
  if (dialect.appliedPosition === null) return null;
  const [row] = await replica.query(dialect.appliedPosition.sql, 'reading the replica\'s replication position');
  return String(row?.['position'] ?? '').trim();
}

/**
 * Why a replica whose applied position is `applied` (read after it reached `before`, the primary's
 * position at the start) cannot be a replica of that primary, whose position is `after` (read after
 * `applied`); null when it can. MariaDB GTIDs, `domain-server-sequence` per domain. For each domain
 * of `before`: the replica cannot be ahead of its primary, and where its last transaction has the
 * sequence number of one of the primary's positions, it is that transaction, written on the same
 * server (GTIDs keep the server they were first written on, through a chain too).
 */
export function foreignHistory(before: string, applied: string, after: string): string | null {
  const parse = (position: string): Map<string, { server: string; sequence: bigint }> =>
    new Map(
      position
        .split(',')
        .map((part) => part.trim().split('-'))
        .filter((parts) => parts.length === 3 && parts.every((part) => /^\d+$/.test(part)))
        .map(([domain, server, sequence]) => [domain!, { server: server!, sequence: BigInt(sequence!) }]),
    );
  const [start, replica, end] = [parse(before), parse(applied), parse(after)];
  for (const [domain, first] of start) {
    const last = end.get(domain) ?? first;
    const mine = replica.get(domain);
    const gtid = (g: { server: string; sequence: bigint }): string => `${domain}-${g.server}-${g.sequence}`;
    // None yet: a domain the replica has not received (doctor reads without waiting); the wait
    // for the primary's position would not have passed.
    if (mine === undefined) continue;
    // Where more than one source writes a domain (multi-source replication sharing it, local writes
    // on a chain's middle server), the wait for the primary's position proves nothing either.
    const unprovable = `: it replicates another server, or more than one source writes GTID domain ${domain}, where waiting for the primary's position proves nothing`;
    if (mine.sequence > last.sequence) return `its last transaction of GTID domain ${domain} (${gtid(mine)}) is past the primary's (${gtid(last)})${unprovable}`;
    // The same sequence number is the same transaction, written on one server. Between the two
    // positions nothing can be told: several servers may write a domain (a Galera cluster).
    const same = mine.sequence === last.sequence ? last : mine.sequence === first.sequence ? first : null;
    if (same !== null && same.server !== mine.server) return `its transaction ${gtid(mine)} is not the primary's ${gtid(same)}${unprovable}`;
  }
  return null;
}

/** The replica's channels; empty when the server replicates from nobody. */
export async function replicaStates(replica: Database, dialect: ReplicationDialect): Promise<ReplicaState[]> {
  try {
    return readReplicaStates(await replica.tryQuery(dialect.replicaStatus.sql));
  } catch (error) {
    if (isPrivilegeError(error)) {
      // To the account the replica matched ('ops'@'10.0.0.%'), as the primary's GRANTs are: a
      // GRANT to 'ops'@'%' fails where no such account exists (NO_AUTO_CREATE_USER).
      await learnAccount(replica);
      throw new DatabaseError(
        `Missing privilege on the replica ${replica.config.host}:${replica.config.port}: '${replica.config.user}' cannot read the replication status ` +
          `(lag, threads), which --replica-url needs: ${grantSql(replica, dialect.replicaStatus.privilege, null)}`,
        { cause: error },
      );
    }
    throw toDatabaseError(error, replica.config, 'reading the replication status');
  }
}

/** Global status variables (SHOW GLOBAL STATUS), by name as asked; a name the server lacks is absent. */
export async function statusVariables(db: Database, variables: readonly string[]): Promise<Map<string, string>> {
  const rows = await db.query(loadSql.status(variables), 'reading the server status');
  const byLowerName = new Map(rows.map((row) => [String(row['Variable_name']).toLowerCase(), String(row['Value'])]));
  const found = new Map<string, string>();
  for (const name of variables) {
    const value = byLowerName.get(name.toLowerCase());
    if (value !== undefined) found.set(name, value);
  }
  return found;
}
