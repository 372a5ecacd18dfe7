// Writes docs/cairn.schema.json, the JSON Schema of the config file, from its zod schema
// (src/config/schema.ts), so editors can complete and check cairn.yaml / cairn.json.
// Usage: npx tsc -p tsconfig.json && node scripts/gen-schema.mjs [--check] [dist-dir]
//   dist-dir: where the project was compiled (default: dist)
//   --check:  do not write; exit 1 when docs/cairn.schema.json is out of date
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'

const root = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const check = args.includes('--check')
const dist = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, 'dist'))
const { configSchema } = await import(pathToFileURL(join(dist, 'src', 'config', 'index.js')).href)

const schema = {
  ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
  $id: 'https://cairn.invalid/cairn.schema.json',
  title: 'cairn configuration',
  description: 'Repositories, backup sets and defaults for "cairn run" and "cairn daemon". See docs/config.md.',
}
const text = `${JSON.stringify(schema, null, 2)}\n`
const target = join(root, 'docs', 'cairn.schema.json')
if (check) {
  let current = ''
  try {
    current = readFileSync(target, 'utf8')
  } catch {}
  if (current !== text) {
    console.error(`${target} is out of date: run "node scripts/gen-schema.mjs"`)
    process.exit(1)
  }
  console.log('docs/cairn.schema.json is up to date')
} else {
  writeFileSync(target, text)
  console.log(`wrote ${target} (${text.length} bytes)`)
}
