import type { Command } from 'commander'
import { cleanupCaches, listCaches, type CacheEntry, type CacheSettings } from '../../app/index.js'
import type { CommandContext } from '../context.js'
import { nonNegativeInt } from '../options.js'
import { formatBytes, table } from '../output/format.js'

interface CacheFlags {
  cleanup?: boolean
  maxAge: number
  size: boolean
}

export function registerCache(program: Command, ctx: CommandContext): void {
  program
    .command('cache')
    .description('List local cache directories, or remove old ones')
    .option('--cleanup', 'remove old cache directories')
    .option('--max-age <days>', 'max age in days for cache directories to be considered old', nonNegativeInt('--max-age'), 30)
    .option('--no-size', 'do not output the size of the cache directories')
    .addHelpText('after', '\nExamples:\n  cairn cache\n  cairn cache --cleanup --max-age 7\n  cairn --cache-dir /var/cache/cairn cache --json')
    .action(async (opts: CacheFlags) => {
      const g = ctx.globals
      const settings: CacheSettings = { noCache: g.cache === false, ...(g.cacheDir === undefined ? {} : { cacheDir: g.cacheDir }) }
      if (opts.cleanup) {
        const r = await cleanupCaches(settings, { maxAgeDays: opts.maxAge })
        for (const f of r.failed) ctx.term.warn(`unable to remove ${f.cache.path}: ${f.message}`)
        if (r.failed.length > 0) ctx.exitCode = 1
        if (ctx.term.json) {
          ctx.term.jsonLine({ cache_dir: r.dir, removed: r.removed.map((c) => c.id), failed: r.failed.map((f) => ({ id: f.cache.id, message: f.message })) })
        } else if (r.removed.length + r.failed.length === 0) ctx.term.info('no old cache dirs found')
        else ctx.term.info(`removed ${r.removed.length} old cache directories from ${r.dir}`)
        return
      }
      const { dir, caches } = await listCaches(settings, { maxAgeDays: opts.maxAge, size: opts.size })
      if (ctx.term.json) {
        ctx.term.out(JSON.stringify(caches.map(cacheJson)))
        return
      }
      if (caches.length === 0) {
        ctx.term.info(`no cache dirs found, basedir is ${dir}`)
        return
      }
      const header = ['Repo ID', 'Last Used', 'Old', ...(opts.size ? ['Size'] : [])]
      const rows = caches.map((c) => [
        /^[0-9a-fA-F]{64}$/.test(c.id) ? c.id.slice(0, 10) : c.id,
        `${c.ageDays} days ago`,
        c.old ? 'yes' : '',
        ...(opts.size ? [formatBytes(c.size ?? 0).padStart(11)] : []),
      ])
      ctx.term.out(table(header, rows, `${caches.length} cache dirs in ${dir}`))
    })
}

function cacheJson(c: CacheEntry): Record<string, unknown> {
  return {
    id: c.id,
    path: c.path,
    last_used: c.lastUsed.toISOString(),
    age_days: c.ageDays,
    old: c.old,
    ...(c.size === undefined ? {} : { size: c.size }),
  }
}
