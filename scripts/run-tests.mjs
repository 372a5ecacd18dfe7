// Builds the project, then runs every compiled *.test.js file with node's test runner.
// Node 20 does not expand globs for --test, so the file list is made here.
// Usage: node scripts/run-tests.mjs [substring-filter...]
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)
const layers = spawnSync(process.execPath, ['scripts/check-layers.mjs'], { cwd: root, stdio: 'inherit' })
if (layers.status !== 0) process.exit(layers.status ?? 1)

function find(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) find(p, out)
    else if (e.name.endsWith('.test.js')) out.push(relative(root, p))
  }
  return out
}
const filters = process.argv.slice(2)
const files = find(join(root, 'dist')).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { cwd: root, stdio: 'inherit' })
process.exit(run.status ?? 1)
