import { accessSync, constants } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';

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
 * beside it and in ../bin (Debian keeps the daemon in sbin).
 */
export function serverBinaryAt(path: string): ServerBinary | null {
  if (!isExecutable(path)) return null;
  const dirs = [dirname(path), join(dirname(path), '..', 'bin')];
  return describeServer(path, (name) => firstExecutable(dirs, name));
}

export function findServerBinary(env: NodeJS.ProcessEnv = process.env, extraDirs: readonly string[] = EXTRA_DIRS): ServerBinary | null {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...extraDirs];
  const find = (name: string): string | null => firstExecutable(dirs, name);
  const mariadbd = find('mariadbd');
  const mariadb = mariadbd === null ? null : describeServer(mariadbd, find);
  if (mariadb !== null) return mariadb;
  const mysqld = find('mysqld');
  return mysqld === null ? null : describeServer(mysqld, find);
}

/**
 * MariaDB or MySQL, from the daemon and the install tool found with it. Older MariaDB packages
 * still name the daemon mysqld, so beside mysqld only mariadb-install-db says MariaDB (old MySQL
 * shipped a mysql_install_db too). A mariadbd without an install tool cannot be initialised: null.
 */
function describeServer(server: string, find: (name: string) => string | null): ServerBinary | null {
  const isMariadbd = basename(server) === 'mariadbd';
  const installDb = find('mariadb-install-db') ?? (isMariadbd ? find('mysql_install_db') : null);
  if (installDb !== null) return { flavor: 'MariaDB', server, installDb };
  return isMariadbd ? null : { flavor: 'MySQL', server, installDb: null };
}

export function firstExecutable(dirs: readonly string[], name: string): string | null {
  return dirs.map((dir) => join(dir, name)).find(isExecutable) ?? null;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
