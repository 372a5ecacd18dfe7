import { AppError, isId, type Id } from '../base/index.js'
import { formatPolynomial, parsePolynomial } from '../chunker/index.js'

/** The decrypted `config` file: format version, repository ID, chunker polynomial. */
export interface RepoConfig {
  version: 1 | 2
  id: Id
  chunkerPolynomial: bigint
}

export function encodeRepoConfig(c: RepoConfig): Buffer {
  return Buffer.from(`{"version":${c.version},"id":"${c.id}","chunker_polynomial":"${formatPolynomial(c.chunkerPolynomial)}"}`)
}

export function decodeRepoConfig(bytes: Uint8Array, location: string): RepoConfig {
  let doc: { version?: unknown; id?: unknown; chunker_polynomial?: unknown }
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new AppError('INVALID_DATA', `Config file of repository "${location}" is not valid JSON`)
  }
  if (doc.version !== 1 && doc.version !== 2) {
    throw new AppError('UNSUPPORTED', `Repository "${location}" has unsupported format version ${JSON.stringify(doc.version)}`, {
      hint: 'cairn reads and writes restic repository versions 1 and 2',
    })
  }
  if (typeof doc.id !== 'string' || !isId(doc.id)) throw new AppError('INVALID_DATA', `Config file of repository "${location}" has no valid id`)
  if (typeof doc.chunker_polynomial !== 'string') {
    throw new AppError('INVALID_DATA', `Config file of repository "${location}" has no chunker polynomial`)
  }
  return { version: doc.version, id: doc.id, chunkerPolynomial: parsePolynomial(doc.chunker_polynomial) }
}
