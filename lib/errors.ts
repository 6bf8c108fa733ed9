// The few error classes the tool has, each carrying its exit code from the contract.
// Scripts throw them; the one catch in lib/cli prints the message as one line and exits with the code.

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  declined: 3,
  locked: 75,
} as const;

export class BackupError extends Error {
  readonly exitCode: number = EXIT.failed;
}

/** The operation failed; nothing half-done was left behind. */
export class FailedError extends BackupError {
  override readonly exitCode = EXIT.failed;
}

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
