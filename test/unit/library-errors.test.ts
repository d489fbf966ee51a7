import { describe, expect, it } from 'vitest';
import { DatabaseError, RunLockedError, UsageError } from '../../src/errors.js';
import { libraryError, optionNames } from '../../src/library-errors.js';

const names = optionNames(['waitLock', 'replicaUrl', 'ids', 'maxLagWait', 'maxLag']);

describe("library errors: the CLI's flags in this API's names (index.ts asLibraryError)", () => {
  it('renames the flags, each whole (--max-lag-wait is not --max-lag and -wait), and keeps the class and exit code', () => {
    const error = libraryError(new RunLockedError('held by pid 7; try again later or pass --wait-lock SECONDS.'), names) as RunLockedError;
    expect(error).toBeInstanceOf(RunLockedError);
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe('held by pid 7; try again later or pass waitLock SECONDS.');
    expect((libraryError(new UsageError('--max-lag-wait and --max-lag need --replica-url'), names) as Error).message).toBe('maxLagWait and maxLag need replicaUrl');
    // A flag this API has no option for stays as it is.
    expect((libraryError(new UsageError('see --verbose'), names) as Error).message).toBe('see --verbose');
  });

  it("leaves quoted text alone, but not text after an apostrophe (the primary's)", () => {
    const quoted = libraryError(new UsageError(`the filter "note NOT LIKE '--ids%'" does not work: Unknown column 'x--ids'; see --ids`), names) as Error;
    expect(quoted.message).toBe(`the filter "note NOT LIKE '--ids%'" does not work: Unknown column 'x--ids'; see ids`);
    const apostrophes = libraryError(new DatabaseError("the primary's position, past --replica-url's: run without it, or give --ids"), names) as Error;
    expect(apostrophes.message).toBe("the primary's position, past replicaUrl's: run without it, or give ids");
  });

  it('says where what was written is, or that nothing was; anything but a CouponAuditError is returned untouched', () => {
    const before = new DatabaseError('Lost the run lock; stopped (what was written is above). Rerun to finish.');
    expect((libraryError(before, names) as Error).message).toBe('Lost the run lock; stopped (nothing was written). Rerun to finish.');
    const written = new DatabaseError('stopped, rolled back (what was written before is above). Rerun.');
    written.runId = 'r1';
    expect((libraryError(written, names) as Error).message).toBe("stopped, rolled back (what was written is in the audit table under this error's runId). Rerun.");
    const plain = new Error('see --ids');
    expect(libraryError(plain, names)).toBe(plain);
    expect(plain.message).toBe('see --ids');
  });
});
