import { AppError, type Id } from '../base/index.js'
import { masterKeyToJSON, parseKeyFile } from '../crypto/index.js'
import { readPackHeader, type Repository } from '../repository/index.js'
import { findSnapshot } from '../snapshots/index.js'

export const CAT_TYPES = ['config', 'index', 'snapshot', 'key', 'masterkey', 'lock', 'pack', 'blob', 'tree', 'header'] as const
export type CatType = (typeof CAT_TYPES)[number]

/** Resolves a full or abbreviated ID among the files of a type. */
async function resolveFileId(repo: Repository, type: 'index' | 'snapshots' | 'keys' | 'locks' | 'data', prefix: string | undefined): Promise<Id> {
  if (!prefix) throw new AppError('INVALID_ARGUMENT', `An ID is needed for "cat ${type}"`)
  const ids = await repo.listIds(type)
  const hits = ids.filter((id) => id.startsWith(prefix))
  if (hits.length === 1) return hits[0]
  if (hits.length === 0) throw new AppError('NOT_FOUND', `No ${type} file with ID "${prefix}"`)
  throw new AppError('INVALID_ARGUMENT', `ID prefix "${prefix}" is ambiguous among ${type} files`, { hint: 'Give more characters' })
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
      if (type === 'tree') return pretty(await repo.loadBlob('tree', id))
      for (const t of ['data', 'tree'] as const) if (repo.index.has(t, id)) return repo.loadBlob(t, id)
      throw new AppError('NOT_FOUND', `No blob with ID "${id}" in the index`)
    }
    default:
      throw new AppError('INVALID_ARGUMENT', `Cannot cat "${type}"`, { hint: `Use one of: ${CAT_TYPES.join(', ')}` })
  }
}
