import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { AppError } from '../base/index.js'
import { maintenance } from './lazy-layers.js'
import { withRepository, type RepositoryOptions } from './session.js'

export interface MigrateRequest {
  /** Migrations to apply, by name; none lists the ones that apply. */
  names: string[]
  /** Apply a migration even when it does not apply (restic's --force). */
  force?: boolean
  signal?: AbortSignal
  /** Told what happens, in restic's words ("checking repository integrity..."). */
  onStatus?: (message: string) => void
  onWarning?: (message: string) => void
}

export interface MigrateResult {
  /** The migrations that apply to the repository (when none were named). */
  available: Array<{ name: string; description: string }>
  applied: string[]
  /** Named migrations not applied, and why. */
  skipped: Array<{ name: string; reason: string }>
}

/**
 * restic's `migrate`, under an exclusive lock: without names, which migrations apply; with
 * names, applies each one that does (or, with `force`, each one), checking the repository's
 * structure first where the migration asks for that. An unknown name is an error before
 * anything is changed.
 */
export async function runMigrate(o: RepositoryOptions, req: MigrateRequest): Promise<MigrateResult> {
  const { MIGRATIONS, checkRepository, upgradeRepoV2 } = await maintenance()
  const unknown = req.names.filter((n) => !MIGRATIONS.some((m) => m.name === n))
  if (unknown.length > 0) {
    throw new AppError('INVALID_ARGUMENT', `Unknown migration "${unknown[0]}"`, {
      hint: `Known migrations: ${MIGRATIONS.map((m) => m.name).join(', ')}; run "cairn migrate" to see which apply to this repository`,
    })
  }
  return withRepository({ ...o, noLock: false, noCache: true }, 'exclusive', async (repo) => {
    const result: MigrateResult = { available: [], applied: [], skipped: [] }
    if (req.names.length === 0) {
      for (const m of MIGRATIONS) if (m.notApplicable(repo) === undefined) result.available.push({ name: m.name, description: m.description })
      return result
    }
    for (const name of new Set(req.names)) {
      const m = MIGRATIONS.find((x) => x.name === name)!
      const reason = m.notApplicable(repo)
      if (reason !== undefined && !req.force) {
        result.skipped.push({ name, reason })
        continue
      }
      if (reason !== undefined && repo.config.version === 2) {
        // Forced onto a repository that is version 2 already: nothing to change, not a failure.
        result.skipped.push({ name, reason })
        continue
      }
      if (reason !== undefined) req.onWarning?.(`check for migration ${name} failed (${reason}), continuing anyway`)
      if (m.checkFirst) {
        req.onStatus?.('checking repository integrity...')
        const report = await checkRepository(repo, { signal: req.signal })
        if (report.errors.length > 0) {
          throw new AppError('INVALID_DATA', `The repository has ${report.errors.length} errors: migration ${name} was not applied`, {
            hint: 'Run "cairn check" to see them, repair the repository, then migrate',
          })
        }
      }
      req.signal?.throwIfAborted()
      req.onStatus?.(`applying migration ${name}...`)
      let copy: string | undefined
      await upgradeRepoV2(repo, async (bytes) => {
        const dir = await mkdtemp(join(tmpdir(), 'cairn-migrate-upgrade-repo-v2-'))
        copy = join(dir, 'config')
        await writeFile(copy, bytes, { mode: 0o600 })
        await chmod(copy, 0o600)
        return copy
      })
      if (copy !== undefined) await rm(dirname(copy), { recursive: true, force: true })
      result.applied.push(name)
      req.onStatus?.(`migration ${name}: success`)
    }
    return result
  })
}
