import { AppError } from '../base/index.js'

/**
 * Errors of the crypto layer. A failed MAC on repository data is INVALID_DATA (damage or tampering);
 * a failed MAC on a key file is WRONG_PASSWORD, because that is by far its most likely cause.
 */

const DAMAGED_HINT = 'The file may be damaged or was not written for this repository; run "check"'

export function invalidData(message: string, cause?: unknown): AppError {
  return new AppError('INVALID_DATA', message, { hint: DAMAGED_HINT, cause })
}

export function invalidKeyFile(message: string, cause?: unknown): AppError {
  return new AppError('INVALID_DATA', `Invalid key file: ${message}`, {
    hint: 'The key file is damaged or not a restic key file; open the repository with another key',
    cause,
  })
}

export function wrongPassword(): AppError {
  return new AppError('WRONG_PASSWORD', 'Cannot open key file: wrong password', {
    hint: 'Check the password, or try another key file of the repository',
  })
}
