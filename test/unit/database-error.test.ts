import { describe, expect, it } from 'vitest';
import { isClosedBeforeSent, isConnectionLost, isServerError, toDatabaseError } from '../../src/db/database-error.js';
import { DatabaseError, exitCodeOf, InternalError, InterruptedError } from '../../src/errors.js';
import { pointConditions } from '../../src/db/builder.js';

const config = { host: 'db.internal', port: 3306, user: 'app', password: 's3cret', database: 'shop', connectTimeoutMs: 5000 } as unknown as Parameters<typeof toDatabaseError>[1];

/** What the error mapper in main would exit with for what toDatabaseError gives or throws. */
function exitFor(error: unknown): number {
  try {
    return exitCodeOf(toDatabaseError(error, config, 'comparing g_coupon_settings with its counts'));
  } catch (thrown) {
    expect(thrown).toBe(error); // thrown again untouched, not wrapped
    return exitCodeOf(thrown);
  }
}

describe('toDatabaseError: database errors are exit 3, defects stay exit 70', () => {
  it("maps the driver's and the network's errors", () => {
    const driver = Object.assign(new Error("Table 'shop.g_coupons' doesn't exist"), { code: 'ER_NO_SUCH_TABLE', errno: 1146, sqlMessage: "Table 'shop.g_coupons' doesn't exist" });
    const mapped = toDatabaseError(driver, config);
    expect(mapped).toBeInstanceOf(DatabaseError);
    expect(mapped.message).toBe("A required table is missing: Table 'shop.g_coupons' doesn't exist.");
    expect(exitFor(driver)).toBe(3);
    expect(exitFor(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104 }))).toBe(3);
    expect(exitFor(Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }))).toBe(3);
  });

  it("no access to a database says to check its name first: the server says the same of one that does not exist (a typo led to roles)", () => {
    const denied = Object.assign(new Error("Access denied for user 'app'@'%' to database 'shpo'"), { code: 'ER_DBACCESS_DENIED_ERROR', errno: 1044, sqlMessage: "Access denied for user 'app'@'%' to database 'shpo'" });
    expect(toDatabaseError(denied, { ...config, database: 'shpo' }).message).toBe(
      "User 'app' has no access to database 'shpo': Access denied for user 'app'@'%' to database 'shpo'. Check the database name in the URL " +
        '(the server says this of a database that does not exist too); if it is right and the privileges come from a role, make that role its default (SET DEFAULT ROLE).',
    );
  });

  it('a statement a KILL QUERY stopped is said so, not as a lost connection; a connect timeout under a second in ms', () => {
    const killed = Object.assign(new Error('Query execution was interrupted'), { code: 'ER_QUERY_INTERRUPTED', errno: 1317, sqlMessage: 'Query execution was interrupted' });
    expect(toDatabaseError(killed, config, 'comparing settings 1…20').message).toBe(
      'The server stopped the statement while comparing settings 1…20 (ER_QUERY_INTERRUPTED): a KILL QUERY from another session, or a shutdown under way; rerun when that is over.',
    );
    expect(exitFor(killed)).toBe(3);
    const timedOut = Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(toDatabaseError(timedOut, { ...config, connectTimeoutMs: 500 }).message).toBe('Cannot connect to db.internal:3306: no answer within 500 ms.');
    expect(toDatabaseError(timedOut, config).message).toBe('Cannot connect to db.internal:3306: no answer within 5 s.');
  });

  it("names a connection refused for a limit (max_connections, the account's MAX_USER_CONNECTIONS), not an hourly statement limit", () => {
    const refused = (errno: number, code: string, sqlMessage: string) => toDatabaseError(Object.assign(new Error(sqlMessage), { errno, code, sqlMessage }), config, 'reading the server status').message;
    expect(refused(1040, 'ER_CON_COUNT_ERROR', 'Too many connections')).toBe(
      'db.internal:3306 refused another connection (while reading the server status): Too many connections. It is at its connection limit: ' +
        'rerun when fewer clients are connected, or raise the limit (a repair needs three connections, a check one).',
    );
    expect(refused(1226, 'ER_USER_LIMIT_REACHED', "User 'app' has exceeded the 'max_user_connections' resource (current value: 4)")).toContain('refused another connection');
    expect(refused(1226, 'ER_USER_LIMIT_REACHED', "User 'app' has exceeded the 'max_questions' resource (current value: 1000)")).toBe(
      "Database error while reading the server status: User 'app' has exceeded the 'max_questions' resource (current value: 1000) (ER_USER_LIMIT_REACHED).",
    );
  });

  it("names a server error by number from 1800, where MariaDB's numbers are not the MySQL names the driver gives them", () => {
    const server = (errno: number, code: string, sqlMessage: string) => Object.assign(new Error(sqlMessage), { errno, code, sqlMessage });
    const window = server(4015, 'ER_ASSIGN_GTIDS_TO_ANONYMOUS_TRANSACTIONS_REQUIRES_GTID_MODE_ON', 'Window function is allowed only in SELECT list and ORDER BY clause');
    expect(toDatabaseError(window, config, 'checking the schema').message).toBe(
      'Database error while checking the schema: Window function is allowed only in SELECT list and ORDER BY clause (error 4015).',
    );
    // Below 1800 both number alike: the name, as before.
    expect(toDatabaseError(server(1242, 'ER_SUBQUERY_NO_1_ROW', 'Subquery returns more than 1 row'), config).message).toBe('Database error: Subquery returns more than 1 row (ER_SUBQUERY_NO_1_ROW).');
    // The server's errors, MySQL 8's and MariaDB's own ranges too; not the client's or a socket's.
    expect([1146, 1792, 3024, 4015].map((errno) => isServerError(server(errno, 'X', 'x')))).toEqual([true, true, true, true]);
    expect([2013, 2006, -104].map((errno) => isServerError(server(errno, 'X', 'x')))).toEqual([false, false, false]);
    expect(isServerError(new TypeError('x'))).toBe(false);
  });

  it('an InternalError (a condition the code relies on) passes through as it is: exit 70, not a database error', () => {
    // A point below the range it should fall in: the builder's assertion, as a page would trip it.
    let bug: unknown;
    try {
      pointConditions('`settingId`', { kind: 'range', after: 5n, upTo: 10n, points: [3n] });
    } catch (error) {
      bug = error;
    }
    expect(bug).toBeInstanceOf(InternalError);
    expect((bug as Error).message).toBe('pointConditions: point 3 out of order or outside (5, 10]');
    expect(exitFor(bug)).toBe(70);
  });

  it('throws a TypeError, RangeError, ReferenceError or SyntaxError again as it is (Node\'s ERR_* ones too)', () => {
    let bug: TypeError;
    try {
      (undefined as unknown as { p: number }).p;
      throw new Error('unreachable');
    } catch (error) {
      bug = error as TypeError;
    }
    expect(bug).toBeInstanceOf(TypeError);
    expect(exitFor(bug)).toBe(70);
    expect(exitFor(new RangeError('Maximum call stack size exceeded'))).toBe(70);
    expect(exitFor(new ReferenceError('x is not defined'))).toBe(70);
    expect(exitFor(new SyntaxError('Unexpected token'))).toBe(70);
    let nodeError: unknown;
    try {
      Buffer.alloc(4).readUInt32LE(8);
    } catch (error) {
      nodeError = error;
    }
    expect((nodeError as { code?: string }).code).toBe('ERR_OUT_OF_RANGE');
    expect(exitFor(nodeError)).toBe(70);
  });

  it('throws an error that has its exit code already (an interruption) again as it is', () => {
    expect(exitFor(new InterruptedError('SIGINT'))).toBe(130);
    expect(exitFor(new InterruptedError('SIGTERM'))).toBe(143);
  });

  it('keeps a DatabaseError as it is', () => {
    const error = new DatabaseError('Lost the connection');
    expect(toDatabaseError(error, config)).toBe(error);
  });
});

describe("mysql2's closed-state error (a statement on a connection the server had ended)", () => {
  // As mysql2's _addCommandClosedState makes it (the real one is met in test/library.test.ts).
  const closed = () => Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true });

  it('is a lost connection (exit 3), not a defect (exit 70), and says the connection was closed', () => {
    expect(isClosedBeforeSent(closed())).toBe(true);
    expect(isConnectionLost(closed())).toBe(true);
    expect(exitFor(closed())).toBe(3);
    expect(toDatabaseError(closed(), config, 'repairing settings 7…7').message).toBe(
      'Lost the connection to db.internal:3306 while repairing settings 7…7 (the connection was closed): the server went away or killed the session; rerun when it is back.',
    );
  });

  it('another fatal error without a code (a reply that did not parse) is not taken for one never sent', () => {
    expect(isClosedBeforeSent(Object.assign(new Error('Malformed communication packet'), { fatal: true }))).toBe(false);
  });
});
