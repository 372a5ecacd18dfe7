import { AppError, messageOf } from '../base/index.js'
import { seal } from '../crypto/index.js'
import { encodeRepoConfig, type Repository } from '../repository/index.js'

/** A change to a repository's format that `migrate` applies on request, as restic's migrations. */
export interface Migration {
  name: string
  description: string
  /** Undefined when the migration applies to this repository, else why it does not. */
  notApplicable(repo: Pick<Repository, 'config'>): string | undefined
  /** Whether the repository is checked (structure) before the migration is applied. */
  checkFirst: boolean
}

export type MigrateRepo = Pick<Repository, 'backend' | 'key' | 'config'>

export const UPGRADE_REPO_V2: Migration = {
  name: 'upgrade_repo_v2',
  description: 'upgrade a repository to version 2',
  notApplicable: (repo) => (repo.config.version === 1 ? undefined : `repository is already upgraded to version ${repo.config.version}`),
  checkFirst: true,
}

/** Every migration cairn knows, by name: restic 0.14's for the formats cairn reads. */
export const MIGRATIONS: readonly Migration[] = [UPGRADE_REPO_V2]

/**
 * Upgrades a version 1 repository to version 2 (restic's `upgrade_repo_v2`): only the config
 * file changes, so data written before stays as it is (uncompressed), and everything written
 * from now on may be compressed. A backend that can replace the config in one step
 * (`replaceConfig`, a local folder) does; on the others the old one is removed and the new one
 * saved, as restic does there; `keepCopy` is given the old file's
 * bytes first and says where it put them. When saving the new file fails, the old one is
 * saved back; the error names the copy either way.
 *
 * @example
 * await upgradeRepoV2(repo, async (bytes) => { await writeFile('/tmp/config', bytes); return '/tmp/config' })
 */
export async function upgradeRepoV2(repo: MigrateRepo, keepCopy: (oldConfig: Buffer) => Promise<string>): Promise<void> {
  if (repo.config.version !== 1) {
    throw new AppError('INVALID_ARGUMENT', `Repository "${repo.backend.location}" has version ${repo.config.version}: only version 1 can be upgraded`)
  }
  const handle = { type: 'config', name: '' } as const
  const old = await repo.backend.load(handle)
  const copy = await keepCopy(old)
  const fresh = seal(repo.key, encodeRepoConfig({ ...repo.config, version: 2 }))
  if (repo.backend.replaceConfig !== undefined) {
    // In one step (a local folder): there is never a moment without a config.
    try {
      return await repo.backend.replaceConfig(fresh)
    } catch (err) {
      throw new AppError('IO', `Cannot save the new config file of "${repo.backend.location}": ${messageOf(err)}; the old one is unchanged`, { hint: 'Fix the cause and run migrate again', cause: err })
    }
  }
  await repo.backend.remove(handle)
  try {
    await repo.backend.save(handle, fresh)
  } catch (err) {
    let restored = ''
    try {
      await repo.backend.save(handle, old)
      restored = 'the old config file was saved back'
    } catch (again) {
      restored = `saving the old config file back failed as well (${messageOf(again)})`
    }
    throw new AppError('IO', `Cannot save the new config file of "${repo.backend.location}": ${messageOf(err)}; ${restored}`, {
      hint: `A copy of the old config file is in ${copy}; if the repository has no config file now, put that copy back as "config"`,
      cause: err,
    })
  }
}
