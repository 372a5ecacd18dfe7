import { isId } from '../base/index.js'
import { FILE_TYPES, type FileType, type Handle } from './backend.js'

/**
 * Argument checks shared by every backend. Names become file paths and URLs, so a name that is
 * not an ID (`../../etc/passwd`, `ab/cd`) must never get that far.
 */
export function checkHandle(h: Handle): void {
  checkType(h.type)
  if (h.type !== 'config' && !isId(h.name)) {
    throw new TypeError(`Invalid file name "${h.name}" for type "${h.type}": expected 64 lowercase hex characters`)
  }
}

export function checkType(type: FileType): void {
  if (!FILE_TYPES.includes(type)) throw new TypeError(`Invalid file type "${type}": expected one of ${FILE_TYPES.join(', ')}`)
}

/** The check at the top of every list(): a known type, and not `config` (a single file). */
export function checkListType(type: FileType): void {
  checkType(type)
  if (type === 'config') throw new TypeError('Cannot list "config": it is a single file; use stat() instead')
}

/** `length` undefined means "to the end of the file". */
export function checkRange(offset: number, length: number | undefined): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`Invalid offset ${offset}: expected an integer >= 0`)
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new RangeError(`Invalid length ${length}: expected an integer >= 0`)
  }
}
