import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { goFileMode, unixFileType, unixModeFromGo } from './file-mode.js'

describe('goFileMode()', () => {
  it('gives the values restic 0.14 stores (restic-format.md §6.3)', () => {
    assert.equal(goFileMode(0o040755), 2147484141) // directory 0755
    assert.equal(goFileMode(0o041777), 2148532735) // /tmp: sticky directory
    assert.equal(goFileMode(0o120777), 134218239) // symlink
    assert.equal(goFileMode(0o010644), 33554852) // fifo
    assert.equal(goFileMode(0o060644), 67109284) // block device
    assert.equal(goFileMode(0o020644), 69206436) // character device
    assert.equal(goFileMode(0o100644), 420) // plain file
  })

  it('moves setuid and setgid to Go bits 23 and 22', () => {
    assert.equal(goFileMode(0o104755), 8389101) // setuid file, as restic wrote it
    assert.equal(goFileMode(0o042750), 2151678440) // setgid directory, as restic wrote it
  })

  it('marks a socket with bit 24', () => {
    assert.equal(goFileMode(0o140755), 2 ** 24 + 0o755)
  })
})

describe('unixModeFromGo()', () => {
  it('inverts goFileMode for every type and flag combination', () => {
    const types: Array<[number, string]> = [
      [0o100000, 'file'],
      [0o040000, 'dir'],
      [0o120000, 'symlink'],
      [0o060000, 'dev'],
      [0o020000, 'chardev'],
      [0o010000, 'fifo'],
      [0o140000, 'socket'],
    ]
    for (const [ifmt, type] of types) {
      for (const perm of [0o000, 0o644, 0o755, 0o4755, 0o2750, 0o1777, 0o7777]) {
        const result = unixModeFromGo(goFileMode(ifmt | perm))
        assert.deepEqual(result, { perm, type }, `${type} ${perm.toString(8)}`)
        assert.equal(unixFileType(result.type), ifmt)
      }
    }
  })
})
