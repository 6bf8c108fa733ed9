// The few error classes the tool has, each carrying its exit code from the contract.
// Code throws them; the one catch in lib/cli/frame prints the message as one line and exits with
// the code. A wrapped error keeps what it wraps as `cause` (printed under COMPOSE_BACKUP_DEBUG).

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  declined: 3,
  locked: 75,
} as const;

export interface BackupErrorOptions extends ErrorOptions {
  /** The step the message already names as failed ("database backup"): not named twice when wrapped. */
  what?: string;
}

export class BackupError extends Error {
  readonly exitCode: number = EXIT.failed;
  readonly what: string | undefined;

  constructor(message: string, options?: BackupErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.what = options?.what;
  }
}

/** The operation failed; nothing half-done was left behind. */
export class FailedError extends BackupError {
  override readonly exitCode = EXIT.failed;
}

/**
 * A disk filled up (ENOSPC, EDQUOT, or a tool saying "No space left on device"). A failure of its
 * own so that every message about it says so, and callers can tell it apart without reading text.
 */
export class NoSpaceError extends FailedError {}

/** Bad flags, bad config, unknown or unsafe backup name. */
export class UsageError extends BackupError {
  override readonly exitCode = EXIT.usage;
}

/** A confirmation was declined, or needed and no terminal could give it. */
export class DeclinedError extends BackupError {
  override readonly exitCode = EXIT.declined;
}

/** Another run holds the lock. */
export class LockedError extends BackupError {
  override readonly exitCode = EXIT.locked;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Pure: whether a system error says the disk (or the user's quota) is full. */
export function isNoSpace(err: unknown): boolean {
  if (err instanceof NoSpaceError) return true;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Pure: what a tool prints when its disk is full (zstd, tar, cat, psql, the kernel's strerror). */
export const NO_SPACE_TEXT = /No space left on device|Disk quota exceeded|ENOSPC|could not extend file/i;

/**
 * The one wording of a failure: `<what> failed: <why>`, a full disk named as such with the folder
 * it happened in, and the original error kept as the cause.
 */
export function failure(what: string, err: unknown, dir?: string): FailedError {
  if (err instanceof UsageError || err instanceof DeclinedError || err instanceof LockedError) return err as never;
  // Already worded for this step (a full disk included, with the tool's own words): kept as it is.
  if (err instanceof FailedError && err.what === what) return err;
  if (isNoSpace(err)) {
    const where = dir ? ` on ${dir}` : '';
    return new NoSpaceError(`${what} failed: no space left${where} (the disk is full)`, { cause: err, what });
  }
  return new FailedError(`${what} failed: ${errorMessage(err)}`, { cause: err, what });
}
