import { randomBytes } from 'node:crypto';
import { lstatSync, type Stats, statSync, writeSync } from 'node:fs';
import { chmod, chown, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Writes `text` to `path` whole or not at all, as the files the tool leaves behind are written (the
 * metrics file, repair --emit-sql's script): beside the target, then renamed over it (rename is
 * atomic within a directory), so a reader (node_exporter's textfile collector, a DBA's client)
 * never sees half a file.
 *
 * A symlink at `path` is replaced, not followed, as `mv` does: a root cron job must not write through
 * a link someone planted in a shared directory into a file of their choosing. A file already there
 * keeps its permissions and, written by root, its owner (a 0600 metrics file had become 0644, and
 * then another user's file root's). Written in place instead (placeOf): a device or a link to one
 * (a root cron job's `--metrics-file /dev/null` had replaced the device with a file), the
 * process's own streams through their descriptors, and a file that may be written where its
 * directory may not be (a folder of another user's, a sticky /tmp), where a rename is refused. A
 * FIFO or a socket is refused: writing one waits for a reader, and a cron job's run hung there.
 */
export async function replaceFile(path: string, text: string): Promise<void> {
  const place = placeOf(path);
  if (place.how === 'descriptor') return writeToDescriptor(place.fd, text);
  if (place.how === 'in-place') return writeFile(path, text);
  const stats = place.existing;
  // A name no one can guess, created exclusively (O_EXCL: never through a link planted at that name),
  // in the target's directory (rename is atomic only within one). Not the target's name plus a
  // suffix: a name near the file system's limit (255 bytes) then had no room for one (ENAMETOOLONG).
  // Hidden, and not *.prom: node_exporter's textfile collector reads neither.
  const temporary = join(dirname(path), `.coupon-audit.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let made = false;
  try {
    await writeFile(temporary, text, { mode: 0o644, flag: 'wx' });
    made = true;
    if (stats !== null) {
      // umask does not apply to chmod; setuid and setgid bits are not carried over.
      await chmod(temporary, stats.mode & 0o777);
      if (process.getuid?.() === 0 && (stats.uid !== 0 || stats.gid !== 0)) await chown(temporary, stats.uid, stats.gid);
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // The directory refuses a new name, or the rename (a sticky directory): the file itself, written in place.
    if (stats !== null && (code === 'EACCES' || code === 'EPERM')) {
      await writeFile(path, text);
      return;
    }
    // Told of the file asked for ("no such file or directory, open '/x/metrics.prom'"), not of the temporary name.
    if (!made && error instanceof Error) error.message = error.message.split(temporary).join(path);
    throw error;
  }
}

/**
 * The descriptor a name for one of this process's streams stands for (`/dev/stdout` 1,
 * `/dev/stderr` 2, `/dev/fd/N` and `/proc/self/fd/N` N), or null. Written through the descriptor,
 * where the output already is: opened again by name it was truncated (`>> cron.log` lost what the
 * log held) or written from its start, over what the run had printed before it. As a path it is a
 * link into /proc, which a rename would replace (as root, /dev/stdout itself) or fail on.
 */
export function streamDescriptor(path: string): number | null {
  const named = /^\/(?:dev\/(stdout|stderr|fd\/(\d+))|proc\/(?:self|thread-self)\/fd\/(\d+))$/.exec(path);
  if (named === null) return null;
  return named[1] === 'stdout' ? 1 : named[1] === 'stderr' ? 2 : Number(named[2] ?? named[3]);
}

/** All of `text` to `fd`, where it stands (a pipe or socket that is full is waited on). */
async function writeToDescriptor(fd: number, text: string): Promise<void> {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; ) {
    try {
      at += writeSync(fd, bytes, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/**
 * How replaceFile writes `path` (and what repair --emit-sql checks before its scan): through its
 * descriptor, a stream of this process's (streamDescriptor); in place, a device or a link to a
 * character device (`/dev/null`, a terminal) that this user or root made (one another user made,
 * planted in a shared directory, would have root write to a device of that user's choosing: it is
 * replaced like any link); else replaced, the regular file there (`existing`) or nothing, or a link.
 * A directory (EISDIR), a FIFO or a socket (EINVAL) is refused.
 */
export type Place = { how: 'descriptor'; fd: number } | { how: 'in-place' } | { how: 'replace'; existing: Stats | null };

export function placeOf(path: string): Place {
  const fd = streamDescriptor(path);
  if (fd !== null) return { how: 'descriptor', fd };
  const stats = lstatSync(path, { throwIfNoEntry: false }) ?? null;
  if (stats?.isDirectory() === true) throw Object.assign(new Error('it is a directory'), { code: 'EISDIR' });
  if (stats?.isFIFO() === true || stats?.isSocket() === true) {
    throw Object.assign(new Error(`it is a ${stats.isFIFO() ? 'FIFO' : 'socket'}, not a file: writing it would wait for a reader`), { code: 'EINVAL' });
  }
  if (stats !== null && !stats.isFile() && !stats.isSymbolicLink()) return { how: 'in-place' };
  const madeHere = stats?.isSymbolicLink() === true && (stats.uid === process.getuid?.() || stats.uid === 0);
  if (madeHere && statSync(path, { throwIfNoEntry: false })?.isCharacterDevice() === true) return { how: 'in-place' };
  return { how: 'replace', existing: stats?.isFile() === true ? stats : null };
}
