import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { checkHostKey, hostMatches, keyFingerprint, keyTypeOf, preferredHostKeyAlgorithms, readKnownHosts } from './known-hosts.js'
import { fingerprint, makeKey, sshdMissing } from './testing.js'

const execFileP = promisify(execFile)
const skip = await sshdMissing()

let dir = ''
/** Two ed25519 keys and an RSA key, made by ssh-keygen: [type, base64] and the raw blob. */
let keyA: { line: string; blob: Buffer; pub: string }
let keyB: { line: string; blob: Buffer; pub: string }
let keyRsa: { line: string; blob: Buffer; pub: string }

async function key(name: string, type = 'ed25519') {
  const path = join(dir, name)
  if (type === 'ed25519') await makeKey(path)
  else await execFileP('ssh-keygen', ['-q', '-t', type, '-b', '2048', '-N', '', '-f', path])
  const [t, b64] = (await readFile(`${path}.pub`, 'utf8')).trim().split(/\s+/)
  return { line: `${t} ${b64}`, blob: Buffer.from(b64, 'base64'), pub: `${path}.pub` }
}

before(async () => {
  if (skip) return
  dir = await mkdtemp(join(tmpdir(), 'cairn-known-hosts-'))
  ;[keyA, keyB, keyRsa] = await Promise.all([key('a'), key('b'), key('rsa', 'rsa')])
})
after(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

async function knownHosts(name: string, text: string) {
  const file = join(dir, name)
  await writeFile(file, text)
  return readKnownHosts([file])
}

describe('known_hosts', { skip }, () => {
  it('keyFingerprint() and keyTypeOf() agree with ssh-keygen -l', async () => {
    assert.equal(keyFingerprint(keyA.blob), await fingerprint(keyA.pub))
    assert.equal(keyFingerprint(keyRsa.blob), await fingerprint(keyRsa.pub))
    assert.equal(keyTypeOf(keyA.blob), 'ssh-ed25519')
    assert.equal(keyTypeOf(keyRsa.blob), 'ssh-rsa')
  })

  it('matches plain names on port 22 and [host]:port otherwise, never one for the other', async () => {
    const entries = await knownHosts('plain', `nas.local,10.0.0.5 ${keyA.line}\n[nas.local]:2222 ${keyB.line}\n`)
    assert.equal(checkHostKey(entries, 'nas.local', 22, keyA.blob).status, 'known')
    assert.equal(checkHostKey(entries, '10.0.0.5', 22, keyA.blob).status, 'known')
    assert.equal(checkHostKey(entries, 'NAS.local', 22, keyA.blob).status, 'known', 'host names ignore case')
    assert.equal(checkHostKey(entries, 'nas.local', 2222, keyB.blob).status, 'known')
    assert.equal(checkHostKey(entries, 'nas.local', 2222, keyA.blob).status, 'changed', 'the port 22 entry does not count for 2222')
    assert.deepEqual(checkHostKey(entries, 'other', 22, keyA.blob), { status: 'unknown', knownTypes: [] })
  })

  it('matches names hashed by ssh-keygen -H, with and without a port', async () => {
    const file = join(dir, 'hashed')
    await writeFile(file, `backup.example.org ${keyA.line}\n[backup.example.org]:2200 ${keyB.line}\n`)
    await execFileP('ssh-keygen', ['-H', '-f', file])
    const text = await readFile(file, 'utf8')
    assert.doesNotMatch(text, /backup\.example\.org/, 'ssh-keygen hashed the names')
    const entries = await readKnownHosts([file])
    assert.equal(entries.length, 2)
    assert.ok(entries.every((e) => e.hosts.startsWith('|1|')))
    assert.equal(checkHostKey(entries, 'backup.example.org', 22, keyA.blob).status, 'known')
    assert.equal(checkHostKey(entries, 'backup.example.org', 2200, keyB.blob).status, 'known')
    assert.equal(checkHostKey(entries, 'backup.example.org', 2200, keyA.blob).status, 'changed')
    assert.equal(checkHostKey(entries, 'backup.example.net', 22, keyA.blob).status, 'unknown')
  })

  it('a different key of the same type is "changed"; only other types known is "unknown" naming them', async () => {
    const entries = await knownHosts('types', `# comment\n\nhost ${keyA.line} alice@laptop\nhost ${keyRsa.line}\n`)
    const changed = checkHostKey(entries, 'host', 22, keyB.blob)
    assert.equal(changed.status, 'changed')
    assert.equal(changed.status === 'changed' && changed.entry.line, 3)
    const onlyRsa = await knownHosts('only-rsa', `host ${keyRsa.line}\n`)
    assert.deepEqual(checkHostKey(onlyRsa, 'host', 22, keyA.blob), { status: 'unknown', knownTypes: ['ssh-rsa'] })
  })

  it('honours wildcards, negation, @revoked, and ignores @cert-authority and broken lines', async () => {
    const entries = await knownHosts(
      'markers',
      [
        `*.lan,!evil.lan ${keyA.line}`,
        `@revoked * ${keyB.line}`,
        `@cert-authority *.lan ${keyRsa.line}`,
        'garbage line',
        `host ssh-ed25519 !!!notbase64`,
        '',
      ].join('\n'),
    )
    assert.equal(entries.length, 3)
    assert.equal(checkHostKey(entries, 'nas.lan', 22, keyA.blob).status, 'known')
    assert.equal(checkHostKey(entries, 'evil.lan', 22, keyA.blob).status, 'unknown')
    assert.equal(checkHostKey(entries, 'nas.lan', 22, keyB.blob).status, 'revoked')
    assert.equal(checkHostKey(entries, 'nas.lan', 22, keyRsa.blob).status, 'unknown', 'a CA key is not a host key')
    assert.equal(hostMatches('h?st', 'host'), true)
    assert.equal(hostMatches('h?st', 'hoost'), false)
  })

  it('preferredHostKeyAlgorithms() asks first for the key types known for the host', async () => {
    const entries = await knownHosts('prefer', `[h]:2222 ${keyRsa.line}\nother ${keyA.line}\n`)
    assert.deepEqual(preferredHostKeyAlgorithms(entries, 'h', 2222), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'])
    assert.deepEqual(preferredHostKeyAlgorithms(entries, 'h', 22), [])
  })

  it('readKnownHosts() treats a missing file as empty', async () => {
    assert.deepEqual(await readKnownHosts([join(dir, 'does-not-exist')]), [])
  })
})
