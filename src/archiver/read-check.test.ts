import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { appendFile, mkdtemp, readFile, rename, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Repository } from '../repository/index.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import { backup, type BackupHooks, type BackupOptions, type BackupProgress } from './archiver.js'
import { checkAfterRead, contentMarkText } from './read-check.js'
import { ExcludeMatcher } from './exclude.js'
import { fileContent, nodeAt, writeFiles } from './testing.js'

/** Progress callbacks that record warnings, errors and the bytes read. */
function recorder() {
  const warnings: Array<{ path: string; message: string }> = []
  const errors: Array<{ path: string; message: string }> = []
  let bytes = 0
  const progress: BackupProgress = {
    onBytes: (n) => {
      bytes += n
    },
    onWarning: (path, message) => warnings.push({ path, message }),
    onError: (path, err) => errors.push({ path, message: err.message }),
  }
  return { progress, warnings, errors, bytes: () => bytes }
}

/**
 * Records every read the archiver reports, and runs `act` at each: after the read, or just
 * before it (`when: 'before'`, a change during the read whichever thread reads the file).
 */
function readLog(act: (path: string, attempt: 1 | 2) => Promise<void> = async () => {}, when: 'before' | 'after' = 'after') {
  const reads: Array<{ path: string; attempt: 1 | 2 }> = []
  const hooks: BackupHooks = {
    afterRead: async (path, attempt) => {
      reads.push({ path, attempt })
      if (when === 'after') await act(path, attempt)
    },
  }
  if (when === 'before') hooks.beforeRead = act
  return { hooks, reads }
}

function run(repo: Repository, paths: string[], extra: Partial<BackupOptions>, hooks?: BackupHooks) {
  return backup(repo, { paths, excludes: new ExcludeMatcher(), hostname: 'test-host', ...extra }, hooks)
}

describe('files that change while they are read', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-read-check-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('an unchanged file is read once, and a file unchanged since the parent is not read at all', async () => {
    const root = join(dir, 'calm')
    const big = seededBytes(1, 2 * 1024 * 1024 + 17)
    await writeFiles(root, { 'small.txt': 'small', 'big.bin': big, 'sub/c.txt': 'c' })
    const repo = await createTestRepository()
    const r = recorder()
    const log = readLog()
    const first = await run(repo, [root], { progress: r.progress }, log.hooks)
    assert.deepEqual(log.reads.map((x) => `${x.path}#${x.attempt}`).sort(), [`${root}/big.bin#1`, `${root}/small.txt#1`, `${root}/sub/c.txt#1`])
    assert.equal(r.bytes(), big.length + 'small'.length + 'c'.length, 'every byte was read exactly once')
    assert.equal(first.summary.filesReread, 0)
    assert.equal(first.summary.filesChangedWhileRead, 0)
    assert.deepEqual(r.warnings, [])

    const again = readLog()
    const second = await run(repo, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot } }, again.hooks)
    assert.equal(second.summary.filesUnmodified, 3)
    assert.deepEqual(again.reads, [], 'no file was read, so none was checked either')
  })

  // A small file is read on a worker, which takes its state through the descriptor as the read
  // ends; a large one on the main thread, checked by an lstat after the read. A change made just
  // before the read is one neither read can miss.
  for (const [kind, size] of [['small', 1000], ['large', 3 * 1024 * 1024 + 5]] as const) {
    it(`a ${kind} file appended to once while it is read is read again and stored as it is now`, async () => {
      const root = join(dir, `once-${kind}`)
      const original = seededBytes(2, size)
      const extra = Buffer.from(' appended while read')
      await writeFiles(root, { 'grows.bin': original, 'calm.txt': 'calm' })
      const path = join(root, 'grows.bin')
      const repo = await createTestRepository({ workers: true })
      const r = recorder()
      const log = readLog(async (p, attempt) => {
        if (p === path && attempt === 1) await appendFile(path, extra)
      }, 'before')
      const { snapshot, summary } = await run(repo, [root], { progress: r.progress }, log.hooks)
      assert.deepEqual(
        log.reads.filter((x) => x.path === path).map((x) => x.attempt),
        [1, 2],
        'read twice',
      )
      assert.equal(log.reads.filter((x) => x.path !== path).length, 1, 'the calm file is read once')
      assert.equal(summary.filesReread, 1)
      assert.equal(summary.filesChangedWhileRead, 0)
      assert.equal(summary.errors, 0)
      assert.deepEqual(r.warnings, [], 'a file that settled is not reported')
      const node = await nodeAt(repo, snapshot.tree, path)
      const now = await stat(path, { bigint: true })
      assert.deepEqual(await fileContent(repo, node), Buffer.concat([original, extra]))
      assert.equal(node.size, original.length + extra.length)
      assert.equal(BigInt(node.size), now.size)
      assert.equal(summary.totalBytesProcessed, original.length + extra.length + 'calm'.length)
      // Either is read to its end, a small one too once it holds more than its stat said.
      const firstRead = original.length + extra.length
      assert.equal(r.bytes(), firstRead + original.length + extra.length + 'calm'.length, 'the re-read is counted as read')
    })
  }

  it('a small file changed only after a worker read it is stored as read, and read again by the next backup', async () => {
    const root = join(dir, 'after-read')
    const original = seededBytes(6, 5000)
    await writeFiles(root, { 'notes.txt': original })
    const path = join(root, 'notes.txt')
    const repo = await createTestRepository({ workers: true })
    const r = recorder()
    // The worker's fstat at the end of the read saw the file as its lstat did: what was read
    // is that file, whatever happens to it afterwards.
    const log = readLog(async (p) => {
      if (p === path) await appendFile(path, 'later')
    })
    const first = await run(repo, [root], { progress: r.progress }, log.hooks)
    assert.deepEqual(log.reads.map((x) => x.attempt), [1], 'read once')
    assert.equal(first.summary.filesReread, 0)
    assert.deepEqual(r.warnings, [])
    const node = await nodeAt(repo, first.snapshot.tree, path)
    assert.equal(node.size, original.length)
    assert.deepEqual(await fileContent(repo, node), original)

    const next = await run(repo, [root], { parent: { id: first.snapshotId!, snapshot: first.snapshot } })
    assert.equal(next.summary.filesChanged, 1, 'its mtime and size moved, so the next backup reads it')
    assert.deepEqual(await fileContent(repo, await nodeAt(repo, next.snapshot.tree, path)), Buffer.concat([original, Buffer.from('later')]))
  })

  it('a file that keeps changing is stored as read the second time and reported as a warning, not an error', async () => {
    const root = join(dir, 'restless')
    const original = seededBytes(3, 1_500_000)
    await writeFiles(root, { 'log.txt': original })
    const path = join(root, 'log.txt')
    const repo = await createTestRepository({ workers: true })
    const r = recorder()
    let appended = 0
    const log = readLog(async (p) => {
      if (p !== path) return
      appended++
      await appendFile(path, `line ${appended}\n`)
    })
    const result = await run(repo, [root], { progress: r.progress }, log.hooks)
    assert.ok(result.snapshotId, 'the backup finished with a snapshot')
    assert.equal(appended, 2, 'read twice, no more')
    assert.equal(result.summary.errors, 0, 'not an error: the file is in the snapshot')
    assert.deepEqual(r.errors, [])
    assert.equal(result.summary.filesReread, 1)
    assert.equal(result.summary.filesChangedWhileRead, 1)
    assert.equal(r.warnings.length, 1)
    assert.equal(r.warnings[0].path, path)
    assert.match(r.warnings[0].message, /^file changed while it was read/)
    // The node describes the bytes stored: the second read, before the second append.
    const secondRead = Buffer.concat([original, Buffer.from('line 1\n')])
    const node = await nodeAt(repo, result.snapshot.tree, path)
    const stored = await fileContent(repo, node)
    assert.deepEqual(stored, secondRead)
    assert.equal(node.size, stored.length)
    assert.equal((await readFile(path)).length, secondRead.length + 'line 2\n'.length)

    // The node does not claim to match the file as it is now: the next backup reads it again.
    const next = await run(repo, [root], { parent: { id: result.snapshotId!, snapshot: result.snapshot } })
    assert.equal(next.summary.filesChanged, 1)
    assert.equal(next.summary.filesChangedWhileRead, 0)
    assert.deepEqual(await fileContent(repo, await nodeAt(repo, next.snapshot.tree, path)), await readFile(path))
  })

  it('a file replaced (renamed over) while read is read again: content and inode of the new file', async () => {
    const root = join(dir, 'replaced')
    await writeFiles(root, { 'config.json': '{"v":1}' })
    const path = join(root, 'config.json')
    const repo = await createTestRepository()
    const log = readLog(async (p, attempt) => {
      if (p !== path || attempt !== 1) return
      await writeFile(`${path}.new`, '{"v":2,"more":true}')
      await rename(`${path}.new`, path)
    }, 'before')
    const r = recorder()
    const { snapshot, summary } = await run(repo, [root], { progress: r.progress }, log.hooks)
    const node = await nodeAt(repo, snapshot.tree, path)
    assert.equal((await fileContent(repo, node)).toString(), '{"v":2,"more":true}')
    assert.equal(node.size, '{"v":2,"more":true}'.length)
    assert.equal(node.inode, (await stat(path, { bigint: true })).ino)
    assert.equal(summary.filesReread, 1)
    assert.deepEqual(r.warnings, [])
  })

  it('a file truncated while read is stored at its new, shorter length', async () => {
    const root = join(dir, 'shrinks')
    const original = seededBytes(4, 2 * 1024 * 1024)
    await writeFiles(root, { 'data.bin': original })
    const path = join(root, 'data.bin')
    const repo = await createTestRepository({ workers: true })
    const log = readLog(async (p, attempt) => {
      if (p === path && attempt === 1) await truncate(path, 1000)
    })
    const { snapshot } = await run(repo, [root], {}, log.hooks)
    const node = await nodeAt(repo, snapshot.tree, path)
    assert.equal(node.size, 1000)
    assert.deepEqual(await fileContent(repo, node), original.subarray(0, 1000))
  })

  it('a file removed right after it was read keeps what was read, without a warning when nothing moved', async () => {
    const root = join(dir, 'removed')
    await writeFiles(root, { 'tmp.txt': 'short-lived' })
    const path = join(root, 'tmp.txt')
    const repo = await createTestRepository()
    const r = recorder()
    const log = readLog(async (p) => {
      if (p === path) await unlink(path)
    })
    const { snapshot, summary } = await run(repo, [root], { progress: r.progress }, log.hooks)
    assert.deepEqual(log.reads.map((x) => x.attempt), [1])
    const node = await nodeAt(repo, snapshot.tree, path)
    assert.equal((await fileContent(repo, node)).toString(), 'short-lived')
    assert.equal(node.size, 'short-lived'.length)
    assert.equal(summary.errors, 0)
    assert.deepEqual(r.warnings, [])
  })

  it('a file a separate process keeps appending to is reported and stored as a consistent prefix', async (t) => {
    const root = join(dir, 'live')
    const original = seededBytes(5, 24 * 1024 * 1024)
    await writeFiles(root, { 'live.log': original, 'calm.txt': 'calm' })
    const path = join(root, 'live.log')
    // A writer that appends a numbered line about every millisecond until it is killed.
    const writer: ChildProcess = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const fd = fs.openSync(process.argv[1], 'a'); const pause = new Int32Array(new SharedArrayBuffer(4));
         for (let i = 0; ; i++) { fs.writeSync(fd, 'line ' + i + '\\n'); if (i === 0) process.stdout.write('ready\\n'); Atomics.wait(pause, 0, 0, 1) }`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    t.after(() => {
      writer.kill('SIGKILL')
    })
    await once(writer.stdout!, 'data')
    const repo = await createTestRepository({ workers: true })
    const r = recorder()
    const result = await run(repo, [root], { progress: r.progress })
    writer.kill('SIGKILL')
    await once(writer, 'exit')
    assert.ok(result.snapshotId)
    assert.equal(result.summary.errors, 0)
    assert.deepEqual(
      r.warnings.map((w) => w.path),
      [path],
      'only the live file is reported',
    )
    assert.match(r.warnings[0].message, /^file changed while it was read/)
    const node = await nodeAt(repo, result.snapshot.tree, path)
    const stored = await fileContent(repo, node)
    const now = await readFile(path)
    assert.equal(node.size, stored.length, 'the node describes the bytes stored')
    assert.ok(stored.length > original.length, 'the second read saw appended lines')
    assert.ok(now.length > stored.length, 'the file grew after the second read started')
    assert.ok(now.subarray(0, stored.length).equals(stored), 'an append-only file is stored as a prefix of itself')
  })

  it('stores a file whose stat does not tell its size (/proc, /sys) whole, with its size as read and no warning, as restic does', { skip: process.platform !== 'linux' }, async () => {
    // /proc/version says 0 bytes: one byte of it was stored, with "file changed while it was read, twice".
    const repo = await createTestRepository()
    const r = recorder()
    const result = await run(repo, ['/proc/version', '/proc/filesystems'], { progress: r.progress })
    assert.deepEqual(r.warnings, [])
    assert.equal(result.summary.filesChangedWhileRead, 0)
    for (const path of ['/proc/version', '/proc/filesystems']) {
      const node = await nodeAt(repo, result.snapshot.tree, path)
      const stored = await fileContent(repo, node)
      const now = await readFile(path)
      assert.equal(stored.toString(), now.toString(), path)
      assert.equal(node.size, now.length, `${path}: the node's size is what it held`)
    }
    assert.equal(result.summary.totalBytesProcessed, (await readFile('/proc/version')).length + (await readFile('/proc/filesystems')).length)
  })

  describe('checkAfterRead', () => {
    it('settles on the state the reader took when it matches, without looking at the path again', async () => {
      const path = join(dir, 'gone.txt')
      await writeFile(path, 'abc')
      const st = await stat(path, { bigint: true })
      await unlink(path)
      assert.deepEqual(checkAfterRead(path, st, contentMarkText(st)), { kind: 'same' }, 'an lstat would have found the path gone')
      assert.equal(checkAfterRead(path, st).kind, 'gone')
    })

    it('falls back to an lstat of the path when the reader saw another state', async () => {
      const path = join(dir, 'moved.txt')
      await writeFile(path, 'abc')
      const before = await stat(path, { bigint: true })
      await appendFile(path, 'def')
      const now = await stat(path, { bigint: true })
      const changed = checkAfterRead(path, before, contentMarkText(now))
      assert.equal(changed.kind, 'changed')
      assert.equal(changed.kind === 'changed' && changed.st.size, 6n, "the state to read again from is the path's own")
      assert.equal(checkAfterRead(path, now, contentMarkText(now)).kind, 'same')
      assert.equal(checkAfterRead(path, now).kind, 'same')
    })
  })
})

describe('a file swapped for something else before it is read', () => {
  it('is never read through a symlink put in its place (small files on a worker, large ones here)', async () => {
    // Files were opened following symlinks: root stored the link's target (say /etc/shadow)
    // under the user's file name.
    const dir = await mkdtemp(join(tmpdir(), 'cairn-swap-'))
    try {
      const secret = join(dir, 'secret')
      const secretBytes = seededBytes(9, 3 * 1024 * 1024)
      await writeFile(secret, secretBytes)
      const root = join(dir, 'user')
      await writeFiles(root, { 'small.txt': 'mine', 'big.bin': seededBytes(8, 3 * 1024 * 1024) })
      const { symlink } = await import('node:fs/promises')
      const hooks: BackupHooks = {
        beforeRead: async (path, attempt) => {
          if (attempt !== 1) return
          await unlink(path)
          await symlink(path.endsWith('small.txt') ? join(dir, 'small-secret') : secret, path)
        },
      }
      await writeFile(join(dir, 'small-secret'), 'SECRET')
      const repo = await createTestRepository()
      const r = recorder()
      const result = await run(repo, [root], { progress: r.progress }, hooks)
      for (const f of ['small.txt', 'big.bin']) {
        const node = await nodeAt(repo, result.snapshot.tree, `${root}/${f}`).catch(() => undefined)
        if (node === undefined || node.type !== 'file') continue
        const content = await fileContent(repo, node)
        assert.ok(!content.equals(secretBytes) && !content.toString().includes('SECRET'), `${f} holds the symlink target's content`)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
