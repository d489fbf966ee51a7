import { CouponAuditError, DatabaseError } from '../errors.js';
import type { ConnectionConfig } from './connection-config.js';

interface DriverError {
  code?: string;
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  message?: string;
  fatal?: boolean;
}

const LOST_CONNECTION = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
]);

/**
 * An error of the driver or the network (mysql2's, a socket's: a `code` or an `errno`). Not one of
 * JavaScript's own for a defect (TypeError, RangeError, ReferenceError, SyntaxError), not even
 * Node's, which carry an ERR_* `code`: those are bugs (exit 70), not database errors (exit 3).
 */
export function isDriverError(error: unknown): error is DriverError & Error {
  if (!(error instanceof Error) || isProgrammingError(error)) return false;
  return 'code' in error || 'errno' in error || isClosedBeforeSent(error);
}

/**
 * mysql2's "Can't add new command when connection is in closed state": a statement on a connection
 * the server had already ended (an idle_transaction_timeout, a KILL noticed late). It has no code,
 * only `fatal`; the statement was never sent, so a COMMIT refused so did not commit.
 */
export function isClosedBeforeSent(error: unknown): boolean {
  return error instanceof Error && (error as DriverError).fatal === true && !('code' in error) && /closed state/.test(error.message);
}

function isProgrammingError(error: Error): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError;
}

/**
 * An error the server sent about a statement: a server error number (MySQL and MariaDB 1000-1999;
 * MySQL 8's from 3000, MariaDB's from 4000, such as 4015 for a window function in a WHERE), not a
 * client's (2000-2999: the driver's, or a lost connection) nor a socket's (Node's negative errno).
 */
export function isServerError(error: unknown): error is DriverError & Error & { errno: number } {
  if (!isDriverError(error) || typeof error.errno !== 'number') return false;
  return error.errno >= 1000 && !(error.errno >= 2000 && error.errno < 3000);
}

/**
 * Lock wait timeout (1205, also MariaDB's NOWAIT), deadlock (1213, also a certification failure at
 * COMMIT on Galera), MariaDB's "record has changed" (1020), a NOWAIT lock that could not be had at
 * once (3572, MySQL and TiDB), Group Replication's certification failure at COMMIT (3101,
 * ER_TRANSACTION_ROLLBACK_DURING_COMMIT, or as reported from InnoDB Cluster multi-primary 1180
 * "Got error 149 - 'Lock deadlock; Retry transaction' during COMMIT"): the transaction can be redone.
 */
export function isRetryableLockError(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  if (error.errno === 1180) return /\berror 149\b/i.test(error.sqlMessage ?? error.message);
  return [1205, 1213, 1020, 3572, 3101].includes(error.errno ?? 0);
}

/**
 * A refusal of the rows written, not of the connection or the server: a SIGNAL's (a trigger's:
 * "issuedCount may not decrease"), 1644 or any errno a SIGNAL sets with MYSQL_ERRNO under SQLSTATE
 * class 45 (an unhandled user-defined exception); or a CHECK constraint the new values break
 * (CHECK (usedCount <= issuedCount) where a setting has more uses than codes): MariaDB's 4025,
 * MySQL's 3819.
 */
export function isWriteRefusal(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  return error.errno === 1644 || isConstraintRefusal(error) || (typeof error.sqlState === 'string' && error.sqlState.startsWith('45'));
}

/** A CHECK constraint's refusal (isWriteRefusal). */
export function isConstraintRefusal(error: unknown): boolean {
  return isDriverError(error) && (error.errno === 4025 || error.errno === 3819);
}

/**
 * A lock wait that ran out (1205): innodb_lock_wait_timeout for a row, lock_wait_timeout for a
 * table's metadata lock (--lock-wait-timeout, --metadata-lock-wait), or a Galera causal read's.
 * One of isRetryableLockError's; where no row lock can be waited for, it is a table's.
 */
export function isLockWaitTimeout(error: unknown): boolean {
  return isDriverError(error) && error.errno === 1205;
}

/**
 * What the server may refuse a statement for whatever its expressions: a lock, the grants, a
 * statement time limit (1969 MariaDB's max_statement_time, 3024 MySQL's max_execution_time), a
 * KILL (1317, 1927), a full disk or table (1021, 1114), sort memory (1038, 1028), the storage
 * engine (1030), read_only (1290), a shutdown (1053), a table or column gone. Anything else a statement the server has
 * already compiled fails for is a value it met (a subquery of two rows, a bad regular expression).
 */
export function isInfrastructureError(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  if (isRetryableLockError(error) || isPrivilegeError(error) || isStatementStopped(error)) return true;
  // And the schema changing under the run: a table dropped (1146) or a column (1054) is not a value.
  return [1021, 1114, 1038, 1028, 1030, 1290, 1146, 1054].includes(error.errno ?? 0);
}

/**
 * The server stopped the statement, whatever its text: a time limit (1969 MariaDB's
 * max_statement_time, 3024 MySQL's max_execution_time), a KILL (1317, 1927), a shutdown (1053), or
 * the connection went. What a probe of a config's filter meets so is no fault of the filter.
 */
export function isStatementStopped(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  return isConnectionLost(error) || [1969, 3024, 1317, 1927, 1053].includes(error.errno ?? 0);
}

/** Denied by the grants: a table, column, database or global privilege. */
export function isPrivilegeError(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  return [1044, 1142, 1143, 1227].includes(error.errno ?? 0);
}

/**
 * The server refused a new connection for a limit: its max_connections (1040), max_user_connections
 * (1203), the account's MAX_USER_CONNECTIONS (1226, which also stands for the account's hourly
 * limits on statements: not those). Connections already open are not affected.
 */
export function isConnectionLimit(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  if (error.errno === 1226) return /max_user_connections/i.test(error.sqlMessage ?? error.message);
  return error.errno === 1040 || error.errno === 1203;
}

export function isConnectionLost(error: unknown): boolean {
  if (!isDriverError(error)) return false;
  return LOST_CONNECTION.has(error.code ?? '') || error.errno === 2013 || error.errno === 2006 || isClosedBeforeSent(error);
}

/**
 * Maps a mysql2 error to one clear sentence (what failed, what to do), scrubbed of the password.
 * `context` says what the tool was doing ("reading g_coupons"). What is caught on the way that is
 * not the database's is thrown again as it is: an error that has its exit code already (an
 * interruption: 130, 143) and a defect (a TypeError in code run around a statement, such as the
 * parse of a page's rows: exit 70; calling it a database error, exit 3, would send the operator to
 * the server for nothing).
 */
export function toDatabaseError(error: unknown, config: ConnectionConfig, context?: string): DatabaseError {
  if (error instanceof DatabaseError) return error;
  if (error instanceof CouponAuditError) throw error;
  if (error instanceof Error && isProgrammingError(error)) throw error;
  const target = `${config.host}:${config.port}`;
  const e = (error ?? {}) as DriverError;
  const detail = e.sqlMessage ?? e.message ?? String(error);
  let message: string;
  switch (e.code) {
    case 'ECONNREFUSED':
      message = `Cannot connect to ${target}: connection refused. Is the server running and listening on that port?`;
      break;
    case 'ETIMEDOUT':
      message = `Cannot connect to ${target}: no answer within ${config.connectTimeoutMs < 1000 ? `${config.connectTimeoutMs} ms` : `${Math.round(config.connectTimeoutMs / 1000)} s`}.`;
      break;
    case 'ER_QUERY_INTERRUPTED':
      // Counted with the lost connections (isConnectionLost: a COMMIT it stops may have committed),
      // but the connection itself is alive: it was the statement that was killed.
      message = `The server stopped the statement${context ? ` while ${context}` : ''} (ER_QUERY_INTERRUPTED): a KILL QUERY from another session, or a shutdown under way; rerun when that is over.`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      message = `Cannot resolve the database host '${config.host}'.`;
      break;
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      message = passwordWasSent(e, config)
        ? `Access denied for user '${config.user}' at ${target}: the password was refused. Check the user name and password` +
          (config.passwordFromUrl === false
            ? '.'
            : ` (in the URL, a '%' in the password must be written %25, or it is read as an escape such as %41 for 'A'${config.urlOnly === true ? '' : '; or use MYSQL_PWD or --password'}).`)
        : config.urlOnly === true
          ? `Access denied for user '${config.user}' at ${target}: no password was given. Put it in the URL (mysql://user:password@host/db, percent-encoded); the library reads no MYSQL_PWD.`
          : `Access denied for user '${config.user}' at ${target}: no password was given. Put it in the URL (mysql://user:password@host/db), MYSQL_PWD or --password.`;
      // The server refuses an account created REQUIRE SSL over plain TCP with this same error.
      if (config.ssl === undefined) message += ` If the account requires TLS (REQUIRE SSL), turn it on: ${config.urlOnly === true ? '' : '--ssl-ca FILE, or '}?ssl=true in the URL.`;
      break;
    case 'ER_DBACCESS_DENIED_ERROR':
      // The server says the same of a database that does not exist (it does not tell an account
      // without access which it is), and a role that holds the grants but is not the account's
      // default is not active at login.
      message =
        `User '${config.user}' has no access to database '${config.database}': ${detail}. Check the database name in the URL ` +
        `(the server says this of a database that does not exist too); if it is right and the privileges come from a role, make that role its default (SET DEFAULT ROLE).`;
      break;
    case 'ER_BAD_DB_ERROR':
      message = `Unknown database '${config.database}' on ${target}: check the database name in the URL.`;
      break;
    case 'ER_NO_SUCH_TABLE':
      message = `A required table is missing: ${detail}.`;
      break;
    case 'ER_BAD_FIELD_ERROR':
      message = `A required column is missing: ${detail}.`;
      break;
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_COLUMNACCESS_DENIED_ERROR':
    case 'ER_SPECIFIC_ACCESS_DENIED_ERROR':
      message = `Missing privilege: ${detail}. Grant it to '${config.user}' (see README, "Privileges").`;
      break;
    case 'ER_LOCK_WAIT_TIMEOUT':
      // Reads take no row locks (consistent reads), and repair redoes its transactions' row-lock
      // waits itself (core/repair.ts): what ends here is most likely a wait for a table's metadata
      // lock, which every connection bounds where the engine allows (--metadata-lock-wait:
      // inspector.ts useEngine). Not surely: a Galera read waiting for the cluster's earlier
      // commits (wsrep_sync_wait) ends in 1205 too, and a MyISAM table lock does.
      message =
        // The server's own text ("try restarting transaction") would say the opposite of the advice.
        `Gave up waiting for a lock${context ? ` while ${context}` : ''} (error 1205): most likely a table's metadata lock, which an ALTER TABLE, ` +
        'LOCK TABLES or other schema change holds or is queued for behind a long transaction (SHOW PROCESSLIST: "Waiting for table metadata lock"; ' +
        "on a Galera node, also a read waiting for the cluster's earlier commits). Rerun when it is done, or wait longer with --metadata-lock-wait SECONDS.";
      break;
    case 'HANDSHAKE_SSL_ERROR':
    case 'HANDSHAKE_NO_SSL_SUPPORT':
      message = `TLS handshake with ${target} failed: ${detail}.`;
      break;
    default:
      if (e.errno === 1047 && /wsrep/i.test(detail)) {
        // A Galera node outside the Primary component (partitioned, or still joining) refuses everything.
        message = outsidePrimaryMessage(target, detail, context);
      } else if (isConnectionLimit(error)) {
        // Where other connections of the run were open, it went on with those (database.ts acquire):
        // this one was needed by itself, or for the whole run (the run lock, a repair writer).
        message =
          `${target} refused another connection${context ? ` (while ${context})` : ''}: ${detail}. ` +
          'It is at its connection limit: rerun when fewer clients are connected, or raise the limit (a repair needs three connections, a check one).';
      } else if (isConnectionLost(error)) {
        message = `Lost the connection to ${target}${context ? ` while ${context}` : ''} (${e.code ?? e.errno ?? 'the connection was closed'}): the server went away or killed the session; rerun when it is back.`;
      } else if (e.code !== undefined && /^(E[A-Z]+$|CERT_|ERR_TLS|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO)/.test(e.code)) {
        // A socket's or TLS's (ECONNRESET, EPIPE…), not the server's ER_* (those are below).
        message = `Cannot talk to ${target}: ${e.code} ${detail}.`;
      } else {
        message = `Database error${context ? ` while ${context}` : ''}: ${detail}${errorName(e)}.`;
      }
  }
  return new DatabaseError(scrub(message.replace(/\.\.$/, '.'), config), { cause: error });
}

/** A Galera node outside the Primary component (partitioned, or still joining): what to do. */
export function outsidePrimaryMessage(target: string, detail: string, context?: string): string {
  return (
    `The cluster node ${target} is not ready${context ? ` (while ${context})` : ''}: it is not in the cluster's Primary component ` +
    `(${detail}); connect through another node, or wait until this one has rejoined.`
  );
}

/**
 * How a server error is named in a message: by the driver's name below 1800, where MySQL and
 * MariaDB number their errors alike; by number from 1800, where they number them apart and the
 * driver names them MySQL's way (MariaDB's 4015, a window function in a WHERE, is MySQL's
 * ER_ASSIGN_GTIDS_TO_ANONYMOUS_TRANSACTIONS_REQUIRES_GTID_MODE_ON).
 */
function errorName(error: DriverError): string {
  if (typeof error.errno === 'number' && error.errno >= 1800 && isServerError(error)) return ` (error ${error.errno})`;
  return error.code ? ` (${error.code})` : '';
}

/**
 * Whether the refused login carried a password. The server says so in its message ("(using
 * password: YES|NO)", MySQL and MariaDB alike); without that, whether we had one to send.
 */
function passwordWasSent(error: DriverError, config: Pick<ConnectionConfig, 'password'>): boolean {
  const said = /\(using password: (YES|NO)\)/i.exec(error.sqlMessage ?? error.message ?? '');
  if (said !== null) return said[1]!.toUpperCase() === 'YES';
  return config.password !== undefined && config.password !== '';
}

/** Removes the password from any text that might echo it. */
export function scrub(text: string, config: Pick<ConnectionConfig, 'password'>): string {
  const password = config.password;
  if (password === undefined || password.length === 0) return text;
  return text.split(password).join('***');
}
