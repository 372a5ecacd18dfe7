/**
 * The one error base class of cairn. Every layer throws AppError (or a subclass declared in its
 * own errors.ts) with a stable code; the CLI maps codes to exit codes in one place.
 */
export type ErrorCode =
  | 'NO_REPOSITORY' // exit 10
  | 'REPOSITORY_EXISTS'
  | 'WRONG_PASSWORD' // exit 12
  | 'LOCKED' // exit 11
  | 'NOT_FOUND'
  | 'INVALID_DATA' // a file or blob failed its MAC, hash or decoding
  | 'UNSUPPORTED'
  | 'INVALID_ARGUMENT'
  | 'NO_PASSWORD'
  | 'IO'
  | 'NETWORK' // a connection failed, timed out or was cut; worth retrying
  | 'PERMISSION_DENIED' // a server refused our credentials or the operation
  | 'CONFIG' // the configuration file is malformed or names something that does not exist
  | 'INTERRUPTED' // exit 130
  | 'PARTIAL' // exit 3: snapshot written, some sources unreadable
  | 'INTERNAL'

export interface AppErrorOptions {
  /** What the user can do about it, shown on its own line. */
  hint?: string
  cause?: unknown
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly hint?: string

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    if (options.hint !== undefined) this.hint = options.hint
  }
}

/** True when `err` is an AppError with the given code. */
export function isAppError(err: unknown, code?: ErrorCode): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code)
}

/** The errno code of a Node system error (`ENOENT`, `EACCES`, …), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code
  }
  return undefined
}

/** Whether `err` (or what caused it) is a refusal to read, rather than damage. */
export function isPermissionError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = errnoCode(e)
    if (code === 'EACCES' || code === 'EPERM') return true
    if (e instanceof Error && /\b(EACCES|EPERM)\b/.test(e.message)) return true
  }
  return false
}

/** A short message for any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
