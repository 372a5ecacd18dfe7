/**
 * The interop fixture: one directory tree holding every kind of entry and name that has broken
 * restic-compatible tools before (see the core issue's "What it must show" list). Creation is
 * deterministic apart from inode numbers and ctimes, and takes well under two seconds.
 */
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { compressibleBytes, randomBytes } from './data.js'
import { setXattr } from './xattr.js'
import { setTimesNs } from './byte-path-shell.js'

const execFileP = promisify(execFile)
const KiB = 1024
const MiB = 1024 * KiB

export interface FixtureEntry {
  /** Path relative to the fixture root, as raw bytes (some names are not UTF-8). */
  path: Buffer
  type: 'file' | 'dir' | 'symlink' | 'fifo'
  size: number
  mtimeNs: bigint
}

export interface FixtureInfo {
  root: string
  /** Whether the file system took `user.*` extended attributes (then the fixture has some). */
  xattrs: boolean
  /** Whether files owned by other users exist (only possible when running as root). */
  owners: boolean
  /** Every entry below the root, sorted by path bytes; mtimes as read back after setting them. */
  entries: FixtureEntry[]
  /** Regular-file names (each hard link counts), as restic's summary counts them. */
  fileCount: number
  /** Directories below the root, the root itself not counted. */
  dirCount: number
  /** Sum of the sizes of all regular-file names. */
  totalFileBytes: number
  /** Relative paths of entries that tests refer to by role. */
  samples: {
    exact512k: string
    bigRandom: string
    bigText: string
    zeros: string
    hardLinkA: string
    hardLinkB: string
    subdir: string
    nonUtf8: Buffer
  }
}

/** Joins path parts where some may be raw byte names; always yields a Buffer path. */
function bpath(...parts: (string | Buffer)[]): Buffer {
  const bufs: Buffer[] = []
  parts.forEach((part, i) => {
    if (i > 0) bufs.push(Buffer.from('/'))
    bufs.push(typeof part === 'string' ? Buffer.from(part) : part)
  })
  return Buffer.concat(bufs)
}

const NON_UTF8_FILE = Buffer.from([0x62, 0x61, 0x64, 0xff]) // "bad\xff"
const NON_UTF8_DIR = Buffer.from([0x64, 0x69, 0x72, 0xfe, 0x2d, 0xe9]) // "dir\xfe-\xe9" (latin-1 é)

/**
 * Creates the fixture tree in `dir` (which must not exist yet, or be empty) and describes it.
 *
 * @example
 * const info = await makeFixtureTree('/tmp/x/src')
 * assert.equal(info.samples.exact512k, 'exact-512KiB.bin')
 */
export async function makeFixtureTree(dir: string): Promise<FixtureInfo> {
  const root = dir
  const at = (...parts: (string | Buffer)[]) => bpath(root, ...parts)
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

  const dirs: (string | Buffer)[][] = [
    ['data'],
    ['small'],
    ['links'],
    ['hardlinks'],
    ['names'],
    ['names', NON_UTF8_DIR],
    ['modes'],
    ['modes', 'dir-0700'],
    ['modes', 'setgid-2755'],
    ['modes', 'sticky-1777'],
    ['xattr-dir'],
    ['empty-nested', 'a', 'b', 'c'],
    ['empty-single'],
  ]
  if (isRoot) dirs.push(['owners'], ['owners', 'other-dir'])
  await fs.mkdir(root, { recursive: true })
  for (const d of dirs) await fs.mkdir(at(...d), { recursive: true })

  // File contents. Sizes straddle the interesting limits: the 512 KiB minimum chunk size, the
  // 1 MiB average, the 8 MiB maximum, and small files that restic packs without chunking.
  const files: [(string | Buffer)[], Buffer][] = [
    [['empty-1'], Buffer.alloc(0)],
    [['data', 'empty-2'], Buffer.alloc(0)],
    [['exact-512KiB.bin'], randomBytes('exact512k', 512 * KiB)],
    [['big-random.bin'], randomBytes('big-random', 9 * MiB + 12345)],
    [['big-text.txt'], compressibleBytes('big-text', 10 * MiB + 777)],
    [['zeros-3MiB.bin'], Buffer.alloc(3 * MiB)],
    [['data', 'random-1.bin'], randomBytes('r1', 1)],
    [['data', 'random-4095.bin'], randomBytes('r4095', 4095)],
    [['data', 'random-65537.bin'], randomBytes('r65537', 65537)],
    [['data', 'random-1MiB-minus-1.bin'], randomBytes('r1m-', MiB - 1)],
    [['data', 'random-2.5MiB.bin'], randomBytes('r2.5m', 2.5 * MiB)],
    [['data', 'text-10.txt'], compressibleBytes('t10', 10)],
    [['data', 'text-100k.txt'], compressibleBytes('t100k', 100_000)],
    [['data', 'text-700k.txt'], compressibleBytes('t700k', 700_000)],
    [
      ['data', 'zero-run-inside.bin'],
      Buffer.concat([randomBytes('zr-a', 300 * KiB), Buffer.alloc(2 * MiB), randomBytes('zr-b', 300 * KiB)]),
    ],
    [['hardlinks', 'pair-a'], randomBytes('pair', 70_000)],
    [['hardlinks', 'triple-1'], compressibleBytes('triple', 5000)],
    [['xattr-file.txt'], Buffer.from('a file with extended attributes\n')],
    [['xattr-dir', 'inside.txt'], Buffer.from('inside a directory with extended attributes\n')],
    [['names', 'ünï'], Buffer.from('umlauts\n')],
    [['names', '日本語のファイル.txt'], Buffer.from('cjk\n')],
    [['names', 'emoji-🎉🦀.txt'], Buffer.from('astral plane\n')],
    [['names', 'quote"name'], Buffer.from('quote\n')],
    [['names', 'back\\slash'], Buffer.from('backslash\n')],
    [['names', 'new\nline'], Buffer.from('newline\n')],
    [['names', 'tab\there'], Buffer.from('tab\n')],
    [['names', 'a<b>&c'], Buffer.from('html characters\n')],
    [['names', 'line\u2028sep'], Buffer.from('unicode line separator\n')],
    [['names', ' leading and trailing space '], Buffer.from('spaces\n')],
    [['names', NON_UTF8_FILE], Buffer.from('not utf-8\n')],
    [['names', NON_UTF8_DIR, 'inner.txt'], Buffer.from('inside a non-utf-8 directory\n')],
    [['modes', 'private-0600'], Buffer.from('private\n')],
    [['modes', 'exec-0755'], Buffer.from('#!/bin/sh\necho hi\n')],
    [['modes', 'readonly-0444'], Buffer.from('read only\n')],
    [['modes', 'setuid-4755'], Buffer.from('setuid\n')],
    [['modes', 'dir-0700', 'file'], Buffer.from('in a private directory\n')],
    [['modes', 'setgid-2755', 'file'], Buffer.from('in a setgid directory\n')],
  ]
  for (let i = 0; i < 40; i++) {
    files.push([['small', `file-${String(i).padStart(3, '0')}.txt`], compressibleBytes(`small-${i}`, 1 + i * 97)])
  }
  if (isRoot) files.push([['owners', 'other-file'], Buffer.from('owned by 1234:5678\n')])
  await Promise.all(files.map(([parts, data]) => fs.writeFile(at(...parts), data)))

  await fs.symlink('../exact-512KiB.bin', at('links', 'relative'))
  await fs.symlink('/etc/hostname', at('links', 'absolute'))
  await fs.symlink('does/not/exist', at('links', 'dangling'))
  await fs.symlink('../data', at('links', 'to-dir'))
  await fs.symlink('../names/ünï', at('links', 'unicode-target'))
  if (isRoot) await fs.symlink('other-file', at('owners', 'other-link'))

  await fs.link(at('hardlinks', 'pair-a'), at('hardlinks', 'pair-b'))
  await fs.link(at('hardlinks', 'triple-1'), at('hardlinks', 'triple-2'))
  await fs.link(at('hardlinks', 'triple-1'), at('data', 'triple-3'))

  await execFileP('mkfifo', ['-m', '0640', join(root, 'fifo')])

  const xattrs = await setFixtureXattrs(at)

  if (isRoot) {
    await fs.chown(at('owners', 'other-file'), 1234, 5678)
    await fs.chown(at('owners', 'other-dir'), 4321, 8765)
    await fs.lchown(at('owners', 'other-link'), 1234, 5678)
  }
  // chmod after chown: chown clears setuid/setgid bits.
  const modes: [(string | Buffer)[], number][] = [
    [['modes', 'private-0600'], 0o600],
    [['modes', 'exec-0755'], 0o755],
    [['modes', 'readonly-0444'], 0o444],
    [['modes', 'setuid-4755'], 0o4755],
    [['modes', 'dir-0700'], 0o700],
    [['modes', 'setgid-2755'], 0o2755],
    [['modes', 'sticky-1777'], 0o1777],
    [['names', NON_UTF8_FILE], 0o640],
  ]
  for (const [parts, mode] of modes) await fs.chmod(at(...parts), mode)

  const all = await listTree(Buffer.from(root))
  await setFixtureTimes(root, all)
  const entries = await describe(root, all)

  let fileCount = 0
  let dirCount = 0
  let totalFileBytes = 0
  for (const e of entries) {
    if (e.type === 'file') {
      fileCount++
      totalFileBytes += e.size
    } else if (e.type === 'dir') dirCount++
  }
  return {
    root,
    xattrs,
    owners: isRoot,
    entries,
    fileCount,
    dirCount,
    totalFileBytes,
    samples: {
      exact512k: 'exact-512KiB.bin',
      bigRandom: 'big-random.bin',
      bigText: 'big-text.txt',
      zeros: 'zeros-3MiB.bin',
      hardLinkA: 'hardlinks/pair-a',
      hardLinkB: 'hardlinks/pair-b',
      subdir: 'data',
      nonUtf8: bpath('names', NON_UTF8_FILE),
    },
  }
}

/** Sets `user.*` attributes on a file, a directory and a non-UTF-8 name; false if unsupported. */
async function setFixtureXattrs(at: (...parts: (string | Buffer)[]) => Buffer): Promise<boolean> {
  try {
    await setXattr(at('xattr-file.txt'), 'user.comment', 'hello from cairn')
  } catch (err) {
    if (/ENOTSUP|EOPNOTSUPP|not supported/i.test(`${(err as { code?: string }).code} ${err}`)) return false
    throw err
  }
  await setXattr(at('xattr-file.txt'), 'user.binary', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a]))
  await setXattr(at('xattr-file.txt'), 'user.empty', Buffer.alloc(0))
  await setXattr(at('xattr-dir'), 'user.dir-note', 'a directory attribute')
  await setXattr(at('names', NON_UTF8_FILE), 'user.on-bad-name', 'xattr on a non-utf-8 name')
  return true
}

/** All paths below `root` (root excluded), parents before children. */
export async function listTree(root: Buffer): Promise<Buffer[]> {
  const out: Buffer[] = []
  const walk = async (dir: Buffer) => {
    const names = await fs.readdir(dir, { encoding: 'buffer', withFileTypes: true })
    for (const d of names) {
      const p = Buffer.concat([dir, Buffer.from('/'), d.name as unknown as Buffer])
      out.push(p)
      if (d.isDirectory()) await walk(p)
    }
  }
  await walk(root)
  return out
}

/**
 * Gives every entry (and the root) its own fixed mtime with a nanosecond part that is not a
 * whole microsecond, so a tool that rounds to microseconds shows up. Setting a child's time
 * does not touch its parent's mtime, so the order is free.
 */
async function setFixtureTimes(root: string, all: Buffer[]): Promise<void> {
  const sorted = [...all].sort(Buffer.compare)
  const time = (i: number) => 1_500_000_000_000_000_000n + BigInt(i) * 86_413_000_000_123n + BigInt((i * 7_919_113 + 457) % 999_999_937)
  await setTimesNs([{ path: Buffer.from(root), ns: time(0) }, ...sorted.map((path, i) => ({ path, ns: time(i + 1) }))])
}

async function describe(root: string, all: Buffer[]): Promise<FixtureEntry[]> {
  const rootLen = Buffer.byteLength(root) + 1
  const entries = await Promise.all(
    all.map(async (p) => {
      const st = await fs.lstat(p, { bigint: true })
      const type: FixtureEntry['type'] = st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFIFO()
            ? 'fifo'
            : 'file'
      return { path: p.subarray(rootLen), type, size: type === 'file' ? Number(st.size) : 0, mtimeNs: st.mtimeNs }
    }),
  )
  return entries.sort((a, b) => Buffer.compare(a.path, b.path))
}

/**
 * A large set of incompressible files for interrupt tests: `totalBytes` split into files of
 * `fileSize`, under `dir`. Returns the number of files written.
 */
export async function makeLargeTree(dir: string, totalBytes: number, fileSize = 4 * MiB): Promise<number> {
  await fs.mkdir(dir, { recursive: true })
  const count = Math.ceil(totalBytes / fileSize)
  for (let i = 0; i < count; i += 4) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 4); j++) {
      batch.push(fs.writeFile(join(dir, `large-${String(j).padStart(4, '0')}.bin`), randomBytes(`large-${j}`, fileSize)))
    }
    await Promise.all(batch)
  }
  return count
}
