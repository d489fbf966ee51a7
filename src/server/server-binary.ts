import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

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

export function findServerBinary(env: NodeJS.ProcessEnv = process.env, extraDirs: readonly string[] = EXTRA_DIRS): ServerBinary | null {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...extraDirs];
  const find = (name: string): string | null => {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
    return null;
  };
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
