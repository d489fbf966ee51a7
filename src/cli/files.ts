import { randomBytes } from 'node:crypto';
import { chmod, lstat, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `text` to `path` whole or not at all, as the files the tool leaves behind are written (the
 * metrics file, repair --emit-sql's script): beside the target, then renamed over it (rename is
 * atomic within a directory), so a reader (node_exporter's textfile collector, a DBA's client)
 * never sees half a file.
 *
 * A symlink at `path` is replaced, not followed, as `mv` does: a root cron job must not write through
 * a link someone planted in a shared directory into a file of their choosing. A file already there
 * keeps its permissions (a 0600 metrics file stayed 0600; a new one is 0644). A device is written in
 * place (a root cron job's `--metrics-file /dev/null` had replaced the device with a file); a FIFO
 * or a socket is refused (EINVAL): writing one waits for a reader, and a cron job's run hung there.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const stats = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stats?.isDirectory() === true) throw Object.assign(new Error(`${path} is a directory`), { code: 'EISDIR' });
  if (stats?.isFIFO() === true || stats?.isSocket() === true) {
    throw Object.assign(new Error(`${path} is a ${stats.isFIFO() ? 'FIFO' : 'socket'}, not a file (writing it would wait for a reader)`), { code: 'EINVAL' });
  }
  if (stats !== null && !stats.isFile() && !stats.isSymbolicLink()) {
    await writeFile(path, text);
    return;
  }
  // A name no one can guess, created exclusively (O_EXCL: never through a link planted at that name),
  // in the target's directory (rename is atomic only within one). Not the target's name plus a
  // suffix: a name near the file system's limit (255 bytes) then had no room for one (ENAMETOOLONG).
  // Hidden, and not *.prom: node_exporter's textfile collector reads neither.
  const temporary = join(dirname(path), `.coupon-audit.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { mode: 0o644, flag: 'wx' });
    // The mode the file had (umask does not apply to chmod); a link's own mode means nothing.
    if (stats?.isFile() === true) await chmod(temporary, stats.mode & 0o7777);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    // Told of the file asked for ("no such file or directory, open '/x/metrics.prom'"), not of the temporary name.
    if (error instanceof Error) error.message = error.message.split(temporary).join(path);
    throw error;
  }
}
