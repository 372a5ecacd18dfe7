import { AppError, isAppError, type Id } from '../base/index.js'
import { masterKeyToJSON, parseKeyFile } from '../crypto/index.js'
import { readPackHeader, type Repository } from '../repository/index.js'
import { findSnapshot } from '../snapshots/index.js'
import { splitSnapshotPath, subfolderTree } from './tree-path.js'

export const CAT_TYPES = ['config', 'index', 'snapshot', 'key', 'masterkey', 'lock', 'pack', 'blob', 'tree', 'header'] as const
export type CatType = (typeof CAT_TYPES)[number]

/** What `cat` calls the files of each folder, for messages. */
const NOUNS = { index: 'index', snapshots: 'snapshot', keys: 'key', locks: 'lock', data: 'pack' } as const

/** Resolves a full or abbreviated ID (any case, as restic takes it) among the files of a type. */
async function resolveFileId(repo: Repository, type: 'index' | 'snapshots' | 'keys' | 'locks' | 'data', given: string | undefined): Promise<Id> {
  const noun = NOUNS[type]
  if (!given) throw new AppError('INVALID_ARGUMENT', `An ID is needed for "cat ${noun}"`)
  const prefix = given.toLowerCase()
  if (!/^[0-9a-f]{1,64}$/.test(prefix)) throw new AppError('INVALID_ARGUMENT', `"${given}" is not a ${noun} ID`, { hint: 'Give its ID, or the start of it, in hexadecimal' })
  const ids = await repo.listIds(type)
  const hits = ids.filter((id) => id.startsWith(prefix))
  if (hits.length === 1) return hits[0]
  if (hits.length === 0) throw new AppError('NOT_FOUND', `No ${noun} file with ID "${given}"`, { hint: `"cairn list ${type === 'data' ? 'packs' : type === 'keys' ? 'keys' : type}" shows the IDs there are` })
  throw new AppError('INVALID_ARGUMENT', `ID prefix "${given}" is ambiguous among ${noun} files`, { hint: 'Give more characters' })
}

/** The tree `cat tree` names: by its own ID, or by SNAPSHOT[:FOLDER] as restic 0.17 and later name it. */
async function treeNamed(repo: Repository, given: string): Promise<Id> {
  const id = given.toLowerCase()
  if (/^[0-9a-f]{64}$/.test(id) && repo.index.has('tree', id)) return id
  const { snapshot, path } = splitSnapshotPath(given)
  try {
    return await subfolderTree(repo, await findSnapshot(repo, snapshot), path)
  } catch (err) {
    if (!isAppError(err, 'NOT_FOUND') || path !== undefined) throw err
    throw new AppError('NOT_FOUND', `No tree or snapshot with ID "${given}"`, { hint: 'Give a tree\'s ID ("cairn list blobs" shows them) or SNAPSHOT[:FOLDER]', cause: err })
  }
}

/** A blob's ID as given (any case, as restic takes it): the whole of it, as restic requires. */
function blobId(given: string, type: 'blob' | 'tree'): Id {
  const id = given.toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(id)) throw new AppError('INVALID_ARGUMENT', `"${given}" is not a ${type} ID: a ${type} is named by all 64 hexadecimal characters of its ID`, { hint: '"cairn list blobs" shows them' })
  return id
}

function pretty(json: Uint8Array | object): string {
  const v = json instanceof Uint8Array ? JSON.parse(Buffer.from(json).toString('utf8')) : json
  return JSON.stringify(v, null, 2) + '\n'
}

/** The content `restic cat TYPE ID` prints: decrypted and decoded where restic decodes. */
export async function catObject(repo: Repository, type: string, id?: string): Promise<Buffer | string> {
  switch (type as CatType) {
    case 'config':
      return pretty({ version: repo.config.version, id: repo.config.id, chunker_polynomial: repo.config.chunkerPolynomial.toString(16) })
    case 'masterkey':
      return pretty(JSON.parse(masterKeyToJSON(repo.key)))
    case 'key': {
      const name = await resolveFileId(repo, 'keys', id)
      return pretty(parseKeyFile(await repo.backend.load({ type: 'keys', name })))
    }
    case 'index':
      return repo.loadUnpacked('index', await resolveFileId(repo, 'index', id))
    case 'lock':
      return pretty(await repo.loadUnpacked('locks', await resolveFileId(repo, 'locks', id)))
    case 'snapshot': {
      const entry = await findSnapshot(repo, id ?? 'latest')
      return pretty(await repo.loadUnpacked('snapshots', entry.id))
    }
    case 'pack':
      return repo.backend.load({ type: 'data', name: await resolveFileId(repo, 'data', id) })
    case 'header': {
      const name = await resolveFileId(repo, 'data', id)
      return pretty(await readPackHeader(repo.backend, repo.key, name))
    }
    case 'blob':
    case 'tree': {
      if (!id) throw new AppError('INVALID_ARGUMENT', `An ID is needed for "cat ${type}"`)
      await repo.loadIndex()
      if (type === 'tree') return pretty(await repo.loadBlob('tree', await treeNamed(repo, id)))
      const blob = blobId(id, type as 'blob' | 'tree')
      for (const t of ['data', 'tree'] as const) if (repo.index.has(t, blob)) return repo.loadBlob(t, blob)
      throw new AppError('NOT_FOUND', `No blob with ID "${id}" in the index`)
    }
    default:
      throw new AppError('INVALID_ARGUMENT', `Cannot cat "${type}"`, { hint: `Use one of: ${CAT_TYPES.join(', ')}` })
  }
}
