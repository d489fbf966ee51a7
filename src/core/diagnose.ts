import { createIndexSql } from '../db/builder.js';
import type { ConnectionConfig } from '../db/connection-config.js';
import { Database } from '../db/database.js';
import { DatabaseError } from '../errors.js';
import { auditCounterNameLength, createIndexFixes, grantSql, hasProblems, learnAccount, nonIntegerSettingsId, nonTransactionalTables, outsidePrimary, privileges as probePrivileges, type Privileges, schemaProblems, type ServerInfo, unindexedCounters, useEngine, withKeyTypes } from '../db/inspector.js';
import { type EngineProfile, rowLocking, runLockKind } from '../db/engine.js';
import { LEASE_TABLE } from '../db/run-lock.js';
import type { AuditScope, CounterDefinition } from './model.js';
import { auditNameProblem, auditTableProblem, binlogRejectsRepair, generatedCounterProblem, missingRepairGrants, repairedTables, transactionsProblem } from './repair-readiness.js';
import { Replica } from './replica.js';
import { DEFAULT_THROTTLE } from './throttle.js';

/** `info`: advice that matters here (where to run repair on a cluster); not a problem. */
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

/** One line of `doctor`'s checklist. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** A statement or step that fixes it. */
  fix?: string;
}

export interface Diagnosis {
  checks: DoctorCheck[];
  /** True when no check warns or fails. */
  healthy: boolean;
}

/** What doctor needs to know, read from the database; separated so the checklist is a pure function. */
export interface DatabaseFacts {
  target: string;
  user: string;
  database: string;
  server: ServerInfo;
  scope: AuditScope;
  /** Missing tables/columns and filters that do not compile, as phrases. */
  schemaProblems: string[];
  /** A Galera node outside the Primary component: nothing but the server was read (inspector.ts outsidePrimary). */
  outsidePrimary?: boolean;
  /** SELECT refused on tables the scope reads, each with its GRANT. */
  missingSelect: { table: string; grant: string }[];
  /** Present when the schema is there (otherwise there is nothing to probe). */
  unindexed?: CounterDefinition[];
  /** The CREATE INDEX for each of `unindexed`, named apart from the table's indexes (default: createIndexSql's name). */
  createIndex?: ReadonlyMap<CounterDefinition, string>;
  privileges?: Privileges;
  /** Counters whose column the server computes (repair-readiness.ts generatedCounterProblem); absent: none, or not read. */
  generated?: { detail: string; fix: string } | null;
  /** The longest counter name an existing audit table holds (null: none yet, or unreadable). */
  auditNameRoom?: number | null;
  /** A text settings id that is no whole number, the first found (inspector.ts nonIntegerSettingsId); null: none. */
  nonIntegerId?: string | null;
  /** Views among (or under) those tables whose definition this account is not shown (SHOW VIEW): their tables' engines are not known. */
  unseenViews?: string[];
  /** Of the tables repair locks, counts or writes, those without transactions (repair-readiness.ts transactionsProblem). */
  nonTransactional?: { table: string; engine: string; base?: string; baseSql?: string }[];
  /** The GRANT statement that gives this user `privileges` on a table of the database ('*': all of them). */
  grantSql: (privileges: string, table: string) => string;
}

/** `metadataLockWaitSeconds`: how long each read waits for a table's metadata lock (inspector.ts useEngine). */
export async function gatherFacts(db: Database, scope: AuditScope, target: string, options: { metadataLockWaitSeconds: number }): Promise<DatabaseFacts> {
  const server = await useEngine(db, { ...options, refuseOutsidePrimary: false });
  if (outsidePrimary(server)) {
    // The node refuses every read: its engine line says why, and nothing else can be looked at.
    return { target, user: db.config.user, database: db.config.database, server, scope, schemaProblems: [], missingSelect: [], grantSql: (privileges, table) => grantSql(db, privileges, table), outsidePrimary: true };
  }
  await learnAccount(db); // the fixes' GRANTs name the account the server matched
  const problems = await schemaProblems(db, scope);
  const facts: DatabaseFacts = {
    target,
    user: db.config.user,
    database: db.config.database,
    server,
    scope,
    schemaProblems: [...problems.missing, ...problems.keys, ...problems.filters],
    missingSelect: problems.grants,
    grantSql: (privileges, table) => grantSql(db, privileges, table),
    generated: generatedCounterProblem(withKeyTypes(scope, problems.textKeys, problems.cacheMax, problems.generated)),
  };
  if (!hasProblems(problems)) {
    facts.unindexed = await unindexedCounters(db, scope);
    facts.createIndex = await createIndexFixes(db, facts.unindexed);
    facts.privileges = await probePrivileges(db, scope, runLockKind(server.engine) === 'lease' ? LEASE_TABLE : null);
    facts.auditNameRoom = await auditCounterNameLength(db, scope.model.auditTable);
    facts.unseenViews = [];
    facts.nonTransactional = await nonTransactionalTables(db, repairedTables(scope.model), facts.unseenViews);
    facts.nonIntegerId = await nonIntegerSettingsId(db, withKeyTypes(scope, problems.textKeys).model);
  }
  return facts;
}

/** How long doctor lets a replica 0 s behind take to apply the primary's position. */
const DOCTOR_REACH_SECONDS = 3;

/**
 * doctor --replica-url: what `check --replica-url` needs of the replica, checked the way the run
 * does (run.ts openReplica, Replica): it answers, has the scope's tables and columns and lets this
 * user read them, replicates with both threads running and a known lag, and --url keeps a
 * position to compare it with. Ends at the first failure (what follows depends on it).
 */
export async function replicaChecks(primary: Database, config: ConnectionConfig, scope: AuditScope, options: { metadataLockWaitSeconds: number }): Promise<DoctorCheck[]> {
  const name = `${config.host}:${config.port}`;
  const checks: DoctorCheck[] = [];
  /** The line a DatabaseError fails: the step under way. */
  let step = 'replica';
  let db: Database | null = null;
  try {
    db = await Database.connect(config, { poolSize: 1 });
    const server = await useEngine(db, options);
    checks.push({ name: 'replica', status: 'ok', detail: `${name}: ${server.flavor} ${server.version}` });
    step = 'replica schema';
    const problems = await schemaProblems(db, scope);
    if (hasProblems(problems)) {
      const missing = [...problems.missing, ...problems.keys, ...problems.filters];
      const unreadable = problems.grants.map((entry) => entry.table);
      checks.push({
        name: step,
        status: 'fail',
        detail: [...missing, ...(unreadable.length === 0 ? [] : [`no SELECT on ${unreadable.join(', ')}`])].join('; '),
        fix:
          unreadable.length > 0 && missing.length === 0
            ? problems.grants.map((entry) => entry.grant).join(' ')
            : `give the replica the schema --url has (is it a replica of ${primary.config.database}?)`,
      });
      return checks;
    }
    checks.push({ name: step, status: 'ok', detail: `the tables and columns the scope reads, readable by '${config.user}'` });
    step = 'replication';
    const replica = await Replica.open(primary, db);
    const lag = await replica.lag();
    if ('problem' in lag) {
      checks.push({
        name: step,
        status: 'fail',
        detail: `the replica ${name} ${lag.problem}: check --replica-url stops (exit 3) rather than read it`,
        fix: 'start or repair replication on the replica (START REPLICA / START SLAVE, after fixing its error), or run without --replica-url',
      });
      return checks;
    }
    const foreign = await replica.foreignSource();
    if (foreign !== null) {
      checks.push({ name: step, status: 'fail', detail: `${foreign}: check --replica-url stops (exit 3) rather than read it`, fix: `give a replica of ${primary.config.host}:${primary.config.port}, or run without --replica-url` });
      return checks;
    }
    const { maxLagSeconds, maxLagWaitSeconds } = DEFAULT_THROTTLE;
    // Caught up with its own source, yet not at the primary's position after a moment: another
    // server's replica, whose GTIDs of the domain are behind the primary's (catchUp would wait
    // --max-lag-wait, then stop).
    // Seconds_Behind_Master measures the SQL thread against what the I/O thread has received, so
    // a replica still downloading reads 0 too: a warning, not a failure.
    if (lag.seconds === 0 && !(await replica.reachesPrimary(DOCTOR_REACH_SECONDS))) {
      checks.push({
        name: step,
        status: 'warn',
        detail:
          `both threads running and 0 s behind its own source, yet it had not applied ${primary.config.host}:${primary.config.port}'s position ` +
          `after ${DOCTOR_REACH_SECONDS} s: it may replicate another server, or its I/O thread is behind; check --replica-url waits up to --max-lag-wait for it, then stops (exit 3)`,
        fix: `make sure it replicates ${primary.config.host}:${primary.config.port} (SHOW REPLICA STATUS: its source), or run without --replica-url`,
      });
      return checks;
    }
    checks.push(
      lag.seconds <= maxLagSeconds
        ? { name: step, status: 'ok', detail: `both threads running, ${lag.seconds} s behind its primary` }
        : {
            name: step,
            status: 'warn',
            detail:
              `both threads running, ${lag.seconds} s behind its primary: check --replica-url waits while it is more than ` +
              `--max-lag (default ${maxLagSeconds} s) behind, and stops (exit 3) after --max-lag-wait (default ${maxLagWaitSeconds} s)`,
            fix: 'find why the replica lags (SHOW REPLICA STATUS), or raise --max-lag / --max-lag-wait for this replica',
          },
    );
    return checks;
  } catch (error) {
    // A DatabaseError ends the list with the step under way failed; anything else is a bug, thrown on.
    if (!(error instanceof DatabaseError)) throw error;
    const grant = /GRANT [^;]+;/.exec(error.message)?.[0];
    const fix = grant ?? (/is not a replica/.test(error.message) ? `give a replica of ${primary.config.host}:${primary.config.port}, or run without --replica-url` : undefined);
    return [...checks, { name: step, status: 'fail', detail: error.message, ...(fix === undefined ? {} : { fix }) }];
  } finally {
    await db?.close();
  }
}

/** A checklist and whether it is healthy: no line warns or fails. */
/** Said where repair's privileges fail; left out under --for check, which it advises. */
const FOR_CHECK_HINT = '; for an account that only checks, doctor --for check)';

/** The lines only repair needs: a check-only account (doctor --for check) is not failed for them. */
const REPAIR_ONLY = new Set(['privileges for repair', 'counters for repair', 'transactions', 'audit table', 'binlog_format', 'run lock table', 'where to repair', 'server version']);

/**
 * The diagnosis for `check` alone (doctor --for check): repair's lines become info, their text
 * kept and their fix left out, so a read-only account's pre-flight passes when check can run.
 */
export function forCheckOnly(diagnosis: Diagnosis): Diagnosis {
  return diagnosisOf(
    diagnosis.checks.map((check) =>
      REPAIR_ONLY.has(check.name) && check.status !== 'ok' && check.status !== 'info'
        ? { name: check.name, status: 'info', detail: `repair only, not needed by check (--for check): ${check.detail.replace(FOR_CHECK_HINT, ')')}` }
        : check,
    ),
  );
}

export function diagnosisOf(checks: DoctorCheck[]): Diagnosis {
  return { checks, healthy: checks.every((check) => check.status === 'ok' || check.status === 'info') };
}

/** The checklist: connection and server, schema, settingId indexes, privileges, binlog_format. */
export function diagnose(facts: DatabaseFacts): Diagnosis {
  const checks: DoctorCheck[] = [];
  checks.push({ name: 'connection', status: 'ok', detail: `${facts.target}: ${facts.server.flavor} ${facts.server.version}` });
  checks.push(...engineChecks(facts.server.engine, facts.privileges?.lease));
  if (facts.outsidePrimary === true) return diagnosisOf(checks);

  const { model } = facts.scope;
  if (facts.schemaProblems.length > 0) {
    checks.push({
      name: 'schema',
      status: 'fail',
      detail: `${facts.schemaProblems.join('; ')}`,
      fix:
        model.source === null
          ? 'point --url at the coupon database (sql/schema.sql has the tables the tool reads), or describe your own tables with --config (README "Counters by definition")'
          : `point --url at the right database, or correct ${model.source}`,
    });
  } else if (facts.missingSelect.length === 0) {
    checks.push({
      name: 'schema',
      status: 'ok',
      detail:
        `${model.settings.table}(${[model.settings.id, model.settings.status, ...facts.scope.counters.map((c) => c.name)].join(', ')}), ` +
        // Two counters of one table and key without filters read the same rows: named once.
        [...new Set(facts.scope.counters.map((c) => `${c.table}.${c.foreignKey}${c.where === null ? '' : ` where ${c.where}`}`))].join(', '),
    });
  }
  if (facts.nonIntegerId != null) {
    const shown = facts.nonIntegerId.length > 40 ? `${facts.nonIntegerId.slice(0, 40)}…` : facts.nonIntegerId;
    checks.push({
      name: 'settings ids',
      status: 'fail',
      detail: `${model.settings.table}.${model.settings.id} holds '${shown}', which is no whole number: check and repair read setting ids as integers written in digits, and stop at the first such row`,
      fix: `describe an integer key column of ${model.settings.table} as settings.id in the config (README "Counters by definition")`,
    });
  }
  if (facts.missingSelect.length > 0) {
    checks.push({
      name: 'privileges for check',
      status: 'fail',
      detail: `no SELECT on ${facts.missingSelect.map((m) => m.table).join(', ')}`,
      fix: facts.missingSelect.map((m) => m.grant).join(' '),
    });
  }

  if (facts.unindexed !== undefined) {
    // One line per child table and key: two counters of one table (each with its filter) share it.
    const seen = new Set<string>();
    for (const counter of facts.scope.counters) {
      const key = `${counter.table}\0${counter.foreignKey}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const missing = facts.unindexed.includes(counter);
      checks.push(
        !missing
          ? { name: `index ${counter.table}`, status: 'ok', detail: `an index starts with ${counter.foreignKey}` }
          : {
              name: `index ${counter.table}`,
              status: 'warn',
              detail: `no index starts with ${counter.foreignKey}: every check reads the whole table`,
              fix: facts.createIndex?.get(counter) ?? createIndexSql(counter),
            },
      );
    }
  }

  const privileges = facts.privileges;
  if (privileges !== undefined) {
    const unreadable = privileges.select.filter((entry) => !entry.granted).map((entry) => entry.table);
    checks.push(
      unreadable.length === 0
        ? { name: 'privileges for check', status: 'ok', detail: `SELECT on ${privileges.select.map((entry) => entry.table).join(', ')}` }
        : {
            name: 'privileges for check',
            status: 'fail',
            detail: `no SELECT on ${unreadable.join(', ')}`,
            fix: unreadable.map((table) => facts.grantSql('SELECT', table)).join(' '),
          },
    );
    const grants = missingRepairGrants(privileges, model);
    const missing = grants.map(({ privilege, table }) => `${privilege} on ${table}`);
    const fixes = grants.map(({ privilege, table }) => facts.grantSql(privilege, table));
    // Not in the grants (or only through a role, which they do not show): repair makes the table
    // before it scans, and stops there if it may not (core/run.ts assertRepairPossible).
    const notShown = privileges.audit.exists ? [] : (['CREATE', 'INSERT'] as const).filter((privilege) => (privilege === 'CREATE' ? privileges.audit.create : privileges.audit.insertGranted) !== true);
    const unsure = notShown.length > 0;
    if (unsure) fixes.push(facts.grantSql('CREATE, INSERT', privileges.audit.table));
    const auditNote = privileges.audit.exists
      ? `INSERT on ${privileges.audit.table}`
      : `CREATE for the audit table ${privileges.audit.table} (made on the first repair)`;
    if (facts.server.readOnly) {
      // Refused even for an account that could write through read_only (core/run.ts assertRepairPossible).
      checks.push({
        name: 'privileges for repair',
        status: 'fail',
        detail: 'the server is read_only (a replica?): repair does not write here (check works)',
        fix: 'point repair at the primary',
      });
    } else if (missing.length > 0) {
      if (unsure) missing.push(`${notShown.join(', ')} for ${privileges.audit.table} (not in the grants)`);
      checks.push({ name: 'privileges for repair', status: 'fail', detail: `missing ${missing.join(', ')} (check works without them${FOR_CHECK_HINT}`, fix: fixes.join(' ') });
    } else if (unsure) {
      checks.push({
        name: 'privileges for repair',
        status: 'warn',
        detail:
          `UPDATE on ${model.settings.table}; the grants do not show ${notShown.join(' or ')} for ${privileges.audit.table} (on it, ${facts.database}.* or *.*), ` +
          `which the first repair needs to make it and write it (it tries before it scans; or create it yourself from sql/audit-table.sql and grant INSERT on it)`,
        fix: fixes.join(' '),
      });
    } else {
      const lease = privileges.lease;
      const leaseNote =
        lease === undefined
          ? ''
          : lease.exists
            ? `, INSERT, UPDATE, DELETE on ${lease.table} (the run lock's lease)`
            : `, CREATE for the run lock table ${lease.table} (made on the first repair)`;
      checks.push({ name: 'privileges for repair', status: 'ok', detail: `UPDATE on ${model.settings.table}, ${auditNote}${leaseNote}` });
    }
  }

  if (facts.generated != null) checks.push({ name: 'counters for repair', status: 'fail', detail: `${facts.generated.detail}: repair stops before it scans (check works)`, fix: facts.generated.fix });
  const engines = facts.nonTransactional === undefined ? null : transactionsProblem(model, facts.nonTransactional);
  if (engines !== null) checks.push({ name: 'transactions', status: 'fail', detail: `${engines.detail}: repair stops before it scans (check works)`, fix: engines.fix });
  else if (facts.unseenViews !== undefined && facts.unseenViews.length > 0) {
    checks.push({
      name: 'transactions',
      status: 'warn',
      detail: `the tables that ${facts.unseenViews.join(', ')} ${facts.unseenViews.length === 1 ? 'reads' : 'read'} are not shown to this account (its definition needs SHOW VIEW), so repair cannot tell whether they have transactions (MyISAM, Aria have none; it needs them)`,
      fix: `${facts.grantSql('SHOW VIEW', '*')} (or make sure those tables are InnoDB)`,
    });
  }

  // Only when it fails: repair would stop before its scan (run.ts assertRepairPossible).
  const unsuitable = privileges === undefined ? null : auditTableProblem(model, privileges.audit.missingColumn);
  if (unsuitable !== null) checks.push({ name: 'audit table', status: 'fail', detail: `${unsuitable.detail}: repair stops before it scans (check works)`, fix: unsuitable.fix });
  const names = auditNameProblem(model.auditTable, facts.auditNameRoom ?? null, facts.scope.counters.map((counter) => counter.name));
  if (names !== null) checks.push({ name: 'audit table', status: 'fail', detail: `${names.detail}: repair stops before it scans (check works)`, fix: `${names.fix} (or name another --audit-table)` });

  const { server } = facts;
  if (!server.logBin) {
    checks.push({ name: 'binlog_format', status: 'ok', detail: 'binary log off' });
  } else if (binlogRejectsRepair(server)) {
    checks.push({
      name: 'binlog_format',
      status: 'fail',
      detail: 'STATEMENT: repair refuses, as the server rejects its READ COMMITTED writes (check works)',
      fix: 'SET GLOBAL binlog_format = ROW; (and in my.cnf), or MIXED',
    });
  } else {
    checks.push({ name: 'binlog_format', status: 'ok', detail: `${server.binlogFormat ?? 'unknown'}` });
  }

  return diagnosisOf(checks);
}

/** How the tool locks on this engine, in a few words. */
export function lockingSummary(engine: EngineProfile): string {
  const rows = {
    'skip-locked': 'rows locked in batches with FOR UPDATE SKIP LOCKED',
    nowait: 'rows locked in batches with FOR UPDATE NOWAIT (no SKIP LOCKED here)',
    'one-at-a-time': 'one setting per transaction, plain FOR UPDATE (no SKIP LOCKED or NOWAIT here)',
  }[rowLocking(engine)];
  const lock = runLockKind(engine) === 'lease' ? `run lock: a lease row in ${LEASE_TABLE} (GET_LOCK is per node here)` : 'run lock: GET_LOCK';
  const reads = engine.readSetup.some((sql) => sql.includes('wsrep_sync_wait'))
    ? 'reads wait for the cluster (wsrep_sync_wait)'
    : engine.readSetup.some((sql) => sql.includes('group_replication_consistency'))
      ? 'reads wait for the group (group_replication_consistency = BEFORE)'
      : null;
  return [lock, rows, reads, engine.certifiesAtCommit ? 'deadlocks at COMMIT (certification) retried' : null]
    .filter((part): part is string => part !== null)
    .join('; ');
}

/** The engine line, and the advice that matters on it. */
export function engineChecks(engine: EngineProfile, lease?: Privileges['lease']): DoctorCheck[] {
  const unit = engine.kind === 'group-replication' ? 'member' : 'node';
  const size = engine.nodes === null ? '' : `, ${engine.nodes} ${unit}${engine.nodes === 1 ? '' : 's'}`;
  const state = engine.clusterState === null ? '' : ` (${engine.clusterState.description})`;
  const checks: DoctorCheck[] = [{ name: 'engine', status: 'ok', detail: `${engine.label}${size}${state}: ${lockingSummary(engine)}` }];
  const cluster = engine.clusterState;
  if (cluster !== null && !cluster.primary) {
    checks[0] = {
      ...checks[0]!,
      status: 'fail',
      fix: 'connect through a node of the Primary component (this one refuses reads and writes until it rejoins)',
    };
  } else if (cluster !== null && !cluster.synced) {
    checks[0] = { ...checks[0]!, status: 'warn', fix: 'wait until the node is Synced, or connect through another node' };
  }
  // Not on a node outside the Primary component: nothing runs through it (its engine line FAILs).
  if (engine.multiPrimary && (cluster === null || cluster.primary)) {
    checks.push({
      name: 'where to repair',
      status: 'info',
      detail:
        'multi-primary: run repair through the node (or proxy) the application writes to. Through another node, application ' +
        'transactions that touch a setting being repaired fail certification at COMMIT (a deadlock error the application sees); ' +
        'repair retries its own. check is exact through any node',
    });
  }
  if (engine.kind === 'group-replication' && !engine.multiPrimary) {
    checks.push({ name: 'where to repair', status: 'info', detail: 'single-primary: repair runs through the primary (the other members are read-only)' });
  }
  if (!engine.causalReads) {
    checks.push({
      name: 'consistent reads',
      status: 'warn',
      detail: `${engine.notes.find((note) => /miss|lags/.test(note)) ?? 'reads here may miss the newest commits made elsewhere'}`,
      fix: engine.kind === 'aurora' ? 'use the cluster (writer) endpoint' : 'MySQL 8.0.14+ (group_replication_consistency)',
    });
  }
  if (engine.kind === 'vitess') {
    checks.push({
      name: 'shards',
      status: 'warn',
      detail:
        'repair locks one setting per transaction (Vitess rejects SKIP LOCKED); counts are exact only when a setting and its ' +
        'coupons and uses live on one shard: a transaction across shards has no isolation',
      fix: 'shard g_coupons and g_coupon_uses by settingId with the same vindex as g_coupon_settings.id',
    });
  }
  if (engine.kind === 'tidb') {
    checks.push({ name: 'tidb', status: 'info', detail: engine.notes.join('; ') });
  }
  if ((engine.kind === 'mysql' || engine.kind === 'mariadb' || engine.kind === 'aurora') && !engine.supportsSkipLocked) {
    checks.push({
      name: 'server version',
      status: 'warn',
      detail: `${engine.flavor} ${engine.version} has no SKIP LOCKED: repair locks ${
        engine.supportsNowait ? 'batches with NOWAIT and takes rows the application holds one at a time' : 'one setting per transaction'
      }`,
      fix: 'MariaDB 10.6+ or MySQL 8.0.1+',
    });
  }
  if (lease !== undefined && !lease.exists && lease.create !== true) {
    checks.push({
      name: 'run lock table',
      status: 'info',
      detail: `the first repair creates ${lease.table} (the lease); the grants do not show CREATE for it`,
      fix: `create it with the statement in README "Clusters", or grant CREATE, INSERT, UPDATE, DELETE on it`,
    });
  }
  return checks;
}
