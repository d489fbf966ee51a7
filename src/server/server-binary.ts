import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** A locally installed MariaDB or MySQL server, and the tool that initialises its data directory. */
export interface ServerBinary {
  flavor: 'MariaDB' | 'MySQL';
  /** mariadbd or mysqld. */
  server: string;
  /** MariaDB's mariadb-install-db; MySQL initialises with `mysqld --initialize-insecure`, so null. */
  installDb: string | null;
}

// Debian and RPM packages put the daemon in sbin, which is often not on a normal user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin', '/usr/local/mariadb/bin', '/opt/homebrew/bin', '/usr/local/bin'];

export const INSTALL_HINT =
  'install one (Debian/Ubuntu: apt-get install mariadb-server; macOS: brew install mariadb) or put mariadbd/mysqld on the PATH';

/**
 * A server binary named by the user (`demo --server-binary`). MariaDB's install tool is looked for
 * beside it and in ../bin (Debian keeps the daemon in sbin); without one a MariaDB binary is no use.
 */
export function serverBinaryAt(path: string): ServerBinary | null {
  if (!isExecutable(path)) return null;
  const dir = dirname(path);
  const installDb =
    [dir, join(dir, '..', 'bin')].flatMap((base) => INSTALL_DB_NAMES.map((name) => join(base, name))).find(isExecutable) ?? null;
  if (installDb !== null) return { flavor: 'MariaDB', server: path, installDb };
  return /mariadbd$/.test(path) ? null : { flavor: 'MySQL', server: path, installDb: null };
}

const INSTALL_DB_NAMES = ['mariadb-install-db', 'mysql_install_db'];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findServerBinary(env: NodeJS.ProcessEnv = process.env, extraDirs: readonly string[] = EXTRA_DIRS): ServerBinary | null {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...extraDirs];
  const find = (name: string): string | null => dirs.map((dir) => join(dir, name)).find(isExecutable) ?? null;
  const mariadbd = find('mariadbd');
  if (mariadbd !== null) {
    const installDb = find('mariadb-install-db') ?? find('mysql_install_db');
    if (installDb !== null) return { flavor: 'MariaDB', server: mariadbd, installDb };
  }
  const mysqld = find('mysqld');
  if (mysqld !== null) {
    // Older MariaDB packages still name the daemon mysqld; they ship mysql_install_db beside it.
    const installDb = find('mariadb-install-db');
    return installDb !== null ? { flavor: 'MariaDB', server: mysqld, installDb } : { flavor: 'MySQL', server: mysqld, installDb: null };
  }
  return null;
}
