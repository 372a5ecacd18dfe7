import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { errnoCode } from '../../base/index.js'

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  file: string
  line: number
  marker?: 'revoked' | 'cert-authority'
  /** Comma-separated patterns, or one `|1|salt|hash` hashed name. */
  hosts: string
  keyType: string
  key: Buffer
}

/** What the known_hosts files say about the key a server offered. */
export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostEntry }
  /** No entry for this host has the offered key's type; `knownTypes` lists those it has. */
  | { status: 'unknown'; knownTypes: string[] }
  /** An entry of the same type holds another key: the server's key changed, or someone is in between. */
  | { status: 'changed'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry }

/**
 * The name OpenSSH stores for a host in known_hosts: `host` on port 22, `[host]:port` otherwise.
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** `SHA256:<base64 without padding>` of a key blob, as `ssh-keygen -l` and ssh print it. */
export function keyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** The algorithm name at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown'
  const n = key.readUInt32BE(0)
  return n > 0 && n <= 64 && 4 + n <= key.length ? key.subarray(4, 4 + n).toString('latin1') : 'unknown'
}

/**
 * Reads known_hosts files in OpenSSH's format (`[@marker] patterns keytype base64 [comment]`).
 * A missing file counts as empty; lines that cannot be parsed are skipped, as ssh does.
 */
export async function readKnownHosts(files: readonly string[]): Promise<KnownHostEntry[]> {
  const out: KnownHostEntry[] = []
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue
      throw err
    }
    text.split('\n').forEach((raw, i) => {
      const entry = parseLine(raw, file, i + 1)
      if (entry !== undefined) out.push(entry)
    })
  }
  return out
}

function parseLine(raw: string, file: string, line: number): KnownHostEntry | undefined {
  const fields = raw.trim().split(/\s+/)
  if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) return undefined
  let marker: KnownHostEntry['marker']
  if (fields[0].startsWith('@')) {
    const m = fields.shift()
    if (m === '@revoked') marker = 'revoked'
    else if (m === '@cert-authority') marker = 'cert-authority'
    else return undefined
  }
  if (fields.length < 3) return undefined
  const [hosts, keyType, b64] = fields
  const key = Buffer.from(b64, 'base64')
  if (key.length === 0 || keyTypeOf(key) !== keyType) return undefined
  return { file, line, ...(marker === undefined ? {} : { marker }), hosts, keyType, key }
}

/** Whether a known_hosts host field names `name` (`host` or `[host]:port`). */
export function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|')
    if (salt === undefined || hash === undefined) return false
    const want = Buffer.from(hash, 'base64')
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest()
    return want.length === got.length && timingSafeEqual(want, got)
  }
  const lower = name.toLowerCase()
  let matched = false
  for (const pattern of hosts.split(',')) {
    const negated = pattern.startsWith('!')
    const glob = (negated ? pattern.slice(1) : pattern).toLowerCase()
    if (!globMatches(glob, lower)) continue
    if (negated) return false
    matched = true
  }
  return matched
}

/** `*` and `?` wildcards, as in ssh's host patterns. */
function globMatches(glob: string, s: string): boolean {
  if (!glob.includes('*') && !glob.includes('?')) return glob === s
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  return re.test(s)
}

/**
 * Judges the key a server offered against known_hosts entries, as ssh with
 * StrictHostKeyChecking=yes does: a revoked key is refused, a matching entry of the same type
 * accepts it, a different key of the same type means the key changed.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port)
  const type = keyTypeOf(key)
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && hostMatches(e.hosts, name))
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key.equals(key))
  if (revoked !== undefined) return { status: 'revoked', entry: revoked }
  const plain = forHost.filter((e) => e.marker === undefined)
  const same = plain.find((e) => e.key.equals(key))
  if (same !== undefined) return { status: 'known', entry: same }
  const changed = plain.find((e) => e.keyType === type)
  if (changed !== undefined) return { status: 'changed', entry: changed }
  return { status: 'unknown', knownTypes: [...new Set(plain.map((e) => e.keyType))] }
}

/**
 * Host key algorithms to ask for first, so the server shows the kind of key known_hosts
 * holds for it (ssh does the same); an empty list when nothing is known.
 */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = knownHostsName(host, port)
  const out: string[] = []
  for (const e of entries) {
    if (e.marker !== undefined || !hostMatches(e.hosts, name)) continue
    for (const algo of ALGORITHMS_FOR_KEY_TYPE[e.keyType] ?? []) if (!out.includes(algo)) out.push(algo)
  }
  return out
}

const ALGORITHMS_FOR_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}
