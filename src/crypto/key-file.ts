import { randomBytes } from 'node:crypto'
import { masterKeyFromJSON, masterKeyToJSON, type MasterKey } from './master-key.js'
import { deriveUserKey, SALT_SIZE, scryptParamsProblem, type ScryptParams } from './scrypt.js'
import { CRYPTO_OVERHEAD, seal, tryOpen } from './seal.js'
import { decodeStdBase64, formatRFC3339Nano, goJSONString, isRFC3339 } from './go-encoding.js'
import { invalidKeyFile, wrongPassword } from './errors.js'

/**
 * Key files (`keys/<id>`, format §2.2): plain JSON holding scrypt parameters, a salt, and the
 * master key sealed with the user key derived from a password.
 */

/** The fields of a key file, in restic's order. `salt` and `data` are standard base64. */
export interface KeyFileInfo {
  created: string
  username: string
  hostname: string
  kdf: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
  data: string
}

export interface CreateKeyFileOptions {
  params: ScryptParams
  username: string
  hostname: string
  /** Defaults to now. Written in UTC. */
  created?: Date
}

// Go's zero time.Time, which is what restic sees when `created` is missing or null.
const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/**
 * Wraps `master` under `password` in a new key file. `bytes` is what to store (compact JSON as
 * Go's json.Marshal writes it, no trailing newline); the file's name is the SHA-256 of `bytes`.
 *
 * @example
 * const { bytes } = await createKeyFile('secret', master, { params: { N: 32768, r: 8, p: 1 }, username: 'ann', hostname: 'nas' })
 */
export async function createKeyFile(
  password: string,
  master: MasterKey,
  opts: CreateKeyFileOptions,
): Promise<{ bytes: Buffer; info: KeyFileInfo }> {
  const { N, r, p } = opts.params
  const problem = scryptParamsProblem({ N, r, p })
  if (problem !== undefined) throw new RangeError(`Invalid scrypt parameters: ${problem}`)
  const plaintext = Buffer.from(masterKeyToJSON(master))
  const salt = randomBytes(SALT_SIZE)
  const userKey = await deriveUserKey(password, salt, { N, r, p })
  const info: KeyFileInfo = {
    created: formatRFC3339Nano(opts.created ?? new Date()),
    username: opts.username,
    hostname: opts.hostname,
    kdf: 'scrypt',
    N,
    r,
    p,
    salt: salt.toString('base64'),
    data: seal(userKey, plaintext).toString('base64'),
  }
  plaintext.fill(0)
  return { bytes: Buffer.from(keyFileJSON(info)), info }
}

function keyFileJSON(k: KeyFileInfo): string {
  return (
    `{"created":${goJSONString(k.created)},"username":${goJSONString(k.username)},` +
    `"hostname":${goJSONString(k.hostname)},"kdf":"scrypt","N":${k.N},"r":${k.r},"p":${k.p},` +
    `"salt":"${k.salt}","data":"${k.data}"}`
  )
}

/**
 * Parses and checks a key file without deriving anything. Unknown fields are ignored; missing
 * `created`, `username` and `hostname` read as Go's zero values. Throws INVALID_DATA for malformed
 * JSON, a kdf other than scrypt, a salt that is not 64 bytes, invalid N/r/p, or too short `data`.
 */
export function parseKeyFile(bytes: Uint8Array): KeyFileInfo {
  let doc: unknown
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch (err) {
    throw invalidKeyFile('not valid JSON', err)
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalidKeyFile('expected a JSON object')
  const d = doc as Record<string, unknown>

  if (d.kdf !== 'scrypt') throw invalidKeyFile(`unsupported kdf ${JSON.stringify(d.kdf ?? null)}, only "scrypt" is supported`)
  const created = optionalString(d, 'created', GO_ZERO_TIME)
  if (!isRFC3339(created)) throw invalidKeyFile(`"created" is not an RFC 3339 time: ${JSON.stringify(created)}`)
  const params = { N: d.N, r: d.r, p: d.p } as ScryptParams
  const problem = scryptParamsProblem(params)
  if (problem !== undefined) throw invalidKeyFile(`invalid scrypt parameters: ${problem}`)

  const salt = base64Field(d, 'salt')
  if (salt.length !== SALT_SIZE) throw invalidKeyFile(`salt must be ${SALT_SIZE} bytes, got ${salt.length}`)
  const data = base64Field(d, 'data')
  if (data.length < CRYPTO_OVERHEAD) throw invalidKeyFile(`data too short (${data.length} bytes)`)

  return {
    created,
    username: optionalString(d, 'username', ''),
    hostname: optionalString(d, 'hostname', ''),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: d.salt as string,
    data: d.data as string,
  }
}

/**
 * Derives the user key from `password` and unwraps the master key. Throws WRONG_PASSWORD when the
 * MAC fails, and INVALID_DATA for anything parseKeyFile() rejects or a master key that is malformed.
 *
 * @example
 * const master = await openKeyFile(await backend.load(handle), password)
 */
export async function openKeyFile(bytes: Uint8Array, password: string): Promise<MasterKey> {
  const info = parseKeyFile(bytes)
  const salt = decodeStdBase64(info.salt) as Buffer
  const data = decodeStdBase64(info.data) as Buffer
  const userKey = await deriveUserKey(password, salt, info)
  let plaintext: Buffer | undefined
  try {
    plaintext = tryOpen(userKey, data)
  } catch (err) {
    throw invalidKeyFile('cannot decrypt "data"', err)
  }
  if (plaintext === undefined) throw wrongPassword()
  try {
    return masterKeyFromJSON(plaintext)
  } catch (err) {
    throw invalidKeyFile('the decrypted master key is malformed', err)
  } finally {
    plaintext.fill(0)
  }
}

function optionalString(d: Record<string, unknown>, name: string, zero: string): string {
  const v = d[name]
  if (v === undefined || v === null) return zero
  if (typeof v !== 'string') throw invalidKeyFile(`"${name}" must be a string`)
  return v
}

function base64Field(d: Record<string, unknown>, name: string): Buffer {
  const v = d[name]
  const bytes = typeof v === 'string' ? decodeStdBase64(v) : undefined
  if (bytes === undefined) throw invalidKeyFile(`"${name}" is not a base64 string`)
  return bytes
}
