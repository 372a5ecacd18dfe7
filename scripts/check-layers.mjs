// Fails when a source file imports a folder its layer may not use, or reaches into another
// folder past its index.ts (or a second entry listed in ENTRIES). The table is the one in docs/architecture.md. Tests (*.test.ts) and
// testing helpers may import deeper, and sideways for fixtures.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const ALLOWED = {
  base: [],
  crypto: ['base'],
  chunker: ['base'],
  localfs: ['base'],
  backends: ['base'],
  repository: ['base', 'crypto', 'chunker', 'backends'],
  snapshots: ['base', 'repository'],
  archiver: ['base', 'crypto', 'chunker', 'localfs', 'repository', 'snapshots'],
  restorer: ['base', 'localfs', 'repository', 'snapshots'],
  maintenance: ['base', 'crypto', 'repository', 'snapshots'],
  config: ['base'],
  app: ['base', 'crypto', 'chunker', 'backends', 'repository', 'snapshots', 'archiver', 'restorer', 'maintenance', 'config'],
  daemon: ['base', 'config', 'app'],
  server: ['base', 'backends', 'config', 'app', 'daemon'],
  cli: ['base', 'app', 'repository', 'snapshots', 'archiver', 'config', 'daemon', 'server'],
}

/**
 * Folders with more entries besides index.ts: a part too heavy to load with the rest, or the
 * few modules a worker thread needs (each worker loads its imports anew, and a barrel brings
 * in the whole layer and those below it).
 */
const ENTRIES = {
  app: ['index.js', 'sets.js'],
  crypto: ['index.js', 'early-scrypt.js'],
  repository: ['index.js', 'blob-decoder.js'],
  snapshots: ['index.js', 'go-time.js', 'file-mode.js'],
}

const src = resolve(new URL('..', import.meta.url).pathname, 'src')
const problems = []
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.ts')) check(p)
  }
}
function check(file) {
  const rel = relative(src, file)
  const layer = rel.split('/')[0]
  const isTest = /\.test\.ts$|(^|\/)testing\.ts$|-testing\.ts$/.test(rel)
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/^(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
    const target = relative(src, resolve(dirname(file), m[1]))
    const to = target.split('/')[0]
    if (to === layer || target.startsWith('..')) continue
    if (isTest) continue
    if (!(ALLOWED[layer] ?? []).includes(to)) problems.push(`${rel}: imports ${to}/ (not allowed for ${layer}/)`)
    else if (!(ENTRIES[to] ?? ['index.js']).some((entry) => target === `${to}/${entry}`)) problems.push(`${rel}: imports ${target} (use ${to}/index.js)`)
  }
}
walk(src)
if (problems.length > 0) {
  console.error(`Layer rules broken (docs/architecture.md):\n${problems.map((p) => `  ${p}`).join('\n')}`)
  process.exit(1)
}
console.log('layers: every import follows docs/architecture.md')
