import { AppError } from '../base/index.js'
import type { CheckProgress, CheckReport } from '../maintenance/index.js'
import { maintenance } from './lazy-layers.js'
import { withRepository, type RepositoryOptions } from './session.js'

export type { AffectedSnapshot, CheckPhase, CheckProblem, CheckReport } from '../maintenance/index.js'

export interface CheckRequest {
  readData?: boolean
  /** "n/t", "x%" or a size such as "500M". */
  readDataSubset?: string
  signal?: AbortSignal
  progress?: CheckProgress
}

/**
 * `check`: opens the repository with an exclusive lock (none with `noLock`) and checks it.
 * The flags are validated before the repository is opened.
 */
export async function runCheck(o: RepositoryOptions, req: CheckRequest): Promise<CheckReport> {
  if (req.readData && req.readDataSubset !== undefined) {
    throw new AppError('INVALID_ARGUMENT', 'Cannot use --read-data and --read-data-subset together', { hint: 'Give one of them' })
  }
  const { checkRepository, parseReadDataSubset } = await maintenance()
  const subset = req.readDataSubset === undefined ? undefined : parseReadDataSubset(req.readDataSubset)
  // Never from the local cache: check must see what the backend holds now, as restic's does.
  return withRepository({ ...o, noCache: true }, 'exclusive', (repo) =>
    checkRepository(repo, { readData: req.readData, readDataSubset: subset, signal: req.signal, progress: req.progress }),
  )
}
