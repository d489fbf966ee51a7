import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFloorInvocation, findClientBinary, FLOOR_STATEMENTS } from '../../src/bench/measure.js';

describe('clientFloorInvocation', () => {
  it('takes host, port, user and database from the URL; the password only in MYSQL_PWD', () => {
    const { args, env } = clientFloorInvocation('mysql://auditor:s%40cret%20pw@db.example:3307/ignored', 'coupon_audit_bench');
    expect(args).toEqual([
      '--no-defaults',
      '--protocol=TCP',
      '--host=db.example',
      '--port=3307',
      '--user=auditor',
      '--database=coupon_audit_bench',
      '-N',
      '-B',
      '-e',
      `${FLOOR_STATEMENTS[0]}; ${FLOOR_STATEMENTS[1]}`,
    ]);
    expect(env).toEqual({ MYSQL_PWD: 's@cret pw' });
    expect(args.join(' ')).not.toMatch(/s@cret|s%40cret/);
    expect(args.filter((arg) => /^(-p|--password)/.test(arg))).toEqual([]);
  });

  it('no password: no MYSQL_PWD (the child gets no password at all), port 3306, user root', () => {
    expect(clientFloorInvocation('mysql://127.0.0.1', 'db')).toEqual({
      args: expect.arrayContaining(['--host=127.0.0.1', '--port=3306', '--user=root', '--database=db']) as unknown,
      env: {},
    });
  });
});

describe('findClientBinary', () => {
  // Made and removed by hooks: a run that filters these tests out (-t) leaves no directory behind.
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ca-client-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const fake = (dir: string, name: string) => {
    mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, dir, name), '#!/bin/sh\n');
    chmodSync(join(root, dir, name), 0o755);
  };
  it('mysql when it is the only client; mariadb before mysql wherever it is on the PATH', () => {
    fake('a', 'mysql');
    const path = [join(root, 'a'), join(root, 'b')].join(delimiter);
    expect(findClientBinary({ PATH: path })).toBe(join(root, 'a', 'mysql'));
    fake('b', 'mariadb');
    expect(findClientBinary({ PATH: path })).toBe(join(root, 'b', 'mariadb'));
  });
  it('null when neither is on the PATH', () => {
    expect(findClientBinary({ PATH: '/nonexistent' })).toBeNull();
  });
});
