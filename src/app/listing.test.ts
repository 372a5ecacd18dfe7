import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isAppError } from '../base/index.js'
import { Lock } from '../repository/index.js'
import { cairn, cairnMain, initRepo, interopSkipReason, openRepo, PASSWORD, restic, tempDir, type TempDir } from './interop-testing.js'
import { MemoryBackend } from '../backends/index.js'
import { tamper } from '../backends/testing/overrides.js'
import { writeSnapshot } from '../maintenance/prune-testing.js'
import { createTestRepository, seededBytes } from '../repository/testing.js'
import { listObjects, listSnapshots, listSnapshotTree, listType, LIST_TYPES } from './listing.js'

describe('listType()', () => {
  it('takes restic\'s type names and refuses others, naming them', () => {
    for (const t of LIST_TYPES) assert.equal(listType(t), t)
    assert.throws(
      () => listType('data'),
      (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message === 'Cannot list "data"' && err.hint === 'Use one of: blobs, packs, index, snapshots, keys, locks',
    )
  })
})

const skip = await interopSkipReason()

describe('listSnapshots()', () => {
  it('skips a snapshot file that cannot be read, with a warning, when given someone to warn', async () => {
    // `cairn snapshots` used to fail outright, listing nothing.
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const good = await writeSnapshot(repo, { a: seededBytes(1, 1000) }, { time: '2025-03-01T12:00:00Z' })
    const bad = await writeSnapshot(repo, { b: seededBytes(2, 1000) }, { time: '2025-03-02T12:00:00Z' })
    await backend.remove({ type: 'snapshots', name: bad })
    await backend.save({ type: 'snapshots', name: bad }, Buffer.alloc(0))
    const warnings: string[] = []
    const list = await listSnapshots(repo, {}, undefined, undefined, (m) => warnings.push(m))
    assert.deepEqual(list.map((e) => e.id), [good])
    assert.equal(warnings.length, 1)
    assert.match(warnings[0], new RegExp(`^Ignoring snapshot ${bad.slice(0, 8)}, which cannot be read`))
  })
})

describe('listSnapshotTree()', () => {
  it('reports a folder it cannot read and lists the rest, when given onError', async () => {
    // ls printed nothing at all and stopped.
    const { Repository } = await import('../repository/index.js')
    const { TEST_PASSWORD } = await import('../repository/testing.js')
    const { decodeSnapshot } = await import('../snapshots/index.js')
    const backend = new MemoryBackend()
    const repo = await createTestRepository({ backend })
    const id = await writeSnapshot(repo, { 'a.txt': seededBytes(1, 100), 'sub/b.txt': seededBytes(2, 100) })
    const root = decodeSnapshot(await repo.loadUnpacked('snapshots', id)).tree
    const { decodeTree } = await import('../snapshots/index.js')
    const sub = decodeTree(await repo.loadBlob('tree', root)).find((n) => n.name.toString() === 'sub')!.subtree!
    const at = repo.index.lookup('tree', sub)!
    await tamper(backend, { type: 'data', name: at.packId }, (b) => {
      b[at.offset + 20] ^= 1
    })
    const fresh = await Repository.open(backend, TEST_PASSWORD)
    const seen: string[] = []
    const errors: string[] = []
    await listSnapshotTree(fresh, id, { recursive: true, onError: (p) => errors.push(p) }, (i) => seen.push(i.path))
    assert.deepEqual(seen, ['/a.txt', '/sub'])
    assert.deepEqual(errors, ['/sub'])
    await assert.rejects(listSnapshotTree(await Repository.open(backend, TEST_PASSWORD), id, { recursive: true }, () => {}), /damaged/)
  })
})

describe('listSnapshotTree() of SNAPSHOT:/sub', () => {
  it('lists the sub-folder as the root, recursively, with paths inside it, as restic (0.16 and later) does', async () => {
    // It listed only the folder's own entries, with their paths in the whole snapshot.
    const repo = await createTestRepository()
    const id = await writeSnapshot(repo, { 'top.txt': seededBytes(1, 10), 'sub/a': seededBytes(2, 10), 'sub/b': seededBytes(3, 10) })
    const seen: string[] = []
    await listSnapshotTree(repo, `${id}:/sub`, {}, (i) => seen.push(i.path))
    assert.deepEqual(seen, ['/a', '/b'])
    const inside: string[] = []
    await listSnapshotTree(repo, `${id}:sub/`, { dirs: ['/b'] }, (i) => inside.push(i.path))
    assert.deepEqual(inside, ['/b'])
    await assert.rejects(listSnapshotTree(repo, `${id}:/top.txt`, {}, () => {}), (err) => isAppError(err, 'INVALID_ARGUMENT') && err.message.includes('not a folder'))
    await assert.rejects(listSnapshotTree(repo, `${id}:/nope`, {}, () => {}), (err) => isAppError(err, 'NOT_FOUND'))
  })
})

describe('list against restic', { skip }, () => {
  let tmp: TempDir
  let repo: string

  before(async () => {
    tmp = await tempDir('list')
    const src = join(tmp.path, 'src')
    await fs.mkdir(join(src, 'sub'), { recursive: true })
    await fs.writeFile(join(src, 'a.txt'), 'one\n')
    await fs.writeFile(join(src, 'sub', 'b.txt'), 'two\n')
    repo = join(tmp.path, 'repo')
    await initRepo(repo)
    for (const extra of ['first\n', 'second\n']) {
      await fs.appendFile(join(src, 'a.txt'), extra)
      const r = await cairn(repo, ['backup', src])
      assert.equal(r.code, 0, r.stderr)
    }
  })
  after(() => tmp.remove())

  it('prints what restic prints for every type, one line each (locks too, while one is held)', async () => {
    const held = await openRepo(repo)
    const lock = await Lock.acquire(held, { exclusive: false })
    try {
      for (const t of LIST_TYPES) {
        const [ours, theirs] = await Promise.all([cairn(repo, ['list', t]), restic(repo, ['list', t])])
        assert.equal(ours.code, 0, `${t}: ${ours.stderr}`)
        assert.equal(theirs.code, 0, `${t}: ${theirs.stderr}`)
        const lines = (s: string) => s.split('\n').filter(Boolean).sort()
        assert.deepEqual(lines(ours.stdout), lines(theirs.stdout), t)
        assert.ok(lines(ours.stdout).length > 0, `${t} lists something`)
      }
    } finally {
      await lock.release()
      await held.close()
    }
  })

  it('lists every index entry as its type and ID', async () => {
    const r = await openRepo(repo)
    try {
      const lines: string[] = []
      for await (const l of listObjects(r, 'blobs')) lines.push(l)
      assert.equal(lines.length, r.index.size)
      assert.ok(lines.every((l) => /^(data|tree) [0-9a-f]{64}$/.test(l)))
      assert.ok(lines.some((l) => l.startsWith('tree ')) && lines.some((l) => l.startsWith('data ')))
    } finally {
      await r.close()
    }
  })

  it('ls of a folder prints the folder, then its entries, as restic does, and snapshots takes IDs and "latest"', async () => {
    const src = join(tmp.path, 'src')
    const paths = async (tool: typeof cairn, args: string[]) =>
      (await tool(repo, ['ls', '--json', 'latest', ...args])).stdout
        .split('\n')
        .filter((l) => l.includes('"struct_type":"node"'))
        .map((l) => (JSON.parse(l) as { path: string }).path)
    const mine = await paths(cairn, [join(src, 'sub')])
    assert.deepEqual(mine, [join(src, 'sub'), join(src, 'sub', 'b.txt')])
    assert.deepEqual(mine, await paths(restic, [join(src, 'sub')]))
    // "." and ".." are cleaned away, as restic cleans them ("/sub/../sub" was "not found").
    assert.deepEqual(await paths(cairn, [`${src}/./sub/../sub/`]), mine)
    // A folder named twice, or inside another one named, lists each entry once.
    const twice = await paths(cairn, ['--recursive', src, join(src, 'sub'), join(src, 'sub')])
    assert.equal(new Set(twice).size, twice.length, twice.join('\n'))

    const ids = (await cairn(repo, ['snapshots', '--json'])).stdout
    const [first] = JSON.parse(ids) as Array<{ id: string }>
    const picked = await cairn(repo, ['snapshots', '--json', first.id.slice(0, 8), 'latest'])
    assert.equal(picked.code, 0, picked.stderr)
    assert.equal((JSON.parse(picked.stdout) as unknown[]).length, 2)
    const bad = await cairn(repo, ['snapshots', '--latest', '1.5'])
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /Invalid value "1.5" for --latest/)
  })

  it('a name that is not UTF-8 can be given to dump and ls, and is printed as its bytes, as restic prints it', async () => {
    const src = join(tmp.path, 'odd')
    await fs.mkdir(src)
    const name = Buffer.concat([Buffer.from(src + '/caf'), Buffer.of(0xe9), Buffer.from('.txt')]) // latin-1 "café.txt"
    await fs.writeFile(name, 'latin-1 name\n')
    const oddRepo = join(tmp.path, 'odd-repo')
    await initRepo(oddRepo)
    const b = await cairn(oddRepo, ['backup', src])
    assert.equal(b.code, 0, b.stderr)
    // Through sh, so that the argument reaches cairn as the file system's bytes.
    const sh = (tool: string, args: string) =>
      new Promise<Buffer>((resolve, reject) =>
        execFile('sh', ['-c', `${tool} -r '${oddRepo}' ${args}`], { encoding: 'buffer', env: { ...process.env, RESTIC_PASSWORD: PASSWORD, CAIRN_PASSWORD: PASSWORD } }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
      )
    const arg = `"${src}/caf$(printf '\\351').txt"`
    const node = `'${process.execPath}' '${cairnMain}'`
    assert.equal((await sh(node, `dump latest ${arg}`)).toString(), 'latin-1 name\n')
    const mine = await sh(node, `ls latest ${arg}`)
    const theirs = await sh('restic --no-cache', `ls latest ${arg}`)
    const body = (b: Buffer) => b.subarray(b.indexOf(0x0a) + 1)
    assert.deepEqual(body(mine), body(theirs))
    assert.ok(body(mine).includes(name), 'the name is printed as its bytes')
    const json = (await sh(node, `ls --json latest ${arg}`)).toString()
    assert.match(json, /"name":"caf\\ufffd\.txt"/)
  })

  it('an unknown type fails before the repository is opened', async () => {
    const r = await cairn(join(tmp.path, 'no-such-repo'), ['list', 'trees'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^Fatal: Cannot list "trees" \(Use one of: blobs, packs, index, snapshots, keys, locks\)/)
  })
})
