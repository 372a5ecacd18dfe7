import { AppError } from '../base/index.js'
import type { Handle } from './backend.js'

/** Thrown by Backend.load and Backend.stat when the file does not exist. */
export class NotFoundError extends AppError {
  readonly handle: Handle
  constructor(handle: Handle, location: string) {
    super('NOT_FOUND', `File "${handleToString(handle)}" not found in "${location}"`)
    this.name = 'NotFoundError'
    this.handle = handle
  }
}

export function handleToString(h: Handle): string {
  return h.type === 'config' ? 'config' : `${h.type}/${h.name}`
}
