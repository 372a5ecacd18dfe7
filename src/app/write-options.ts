import { AppError } from '../base/index.js'
import type { CompressionMode } from '../repository/index.js'

/** restic's compression modes: zstd at its default level, none, or the highest. */
export const COMPRESSION_MODES: readonly CompressionMode[] = ['auto', 'off', 'max']

/**
 * The compression mode of --compression, else of CAIRN_COMPRESSION or RESTIC_COMPRESSION;
 * undefined when none is set (the writer's own default, auto). Throws INVALID_ARGUMENT naming
 * the value otherwise.
 */
export function compressionMode(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): CompressionMode | undefined {
  const value = [flag, env.CAIRN_COMPRESSION, env.RESTIC_COMPRESSION].find((v) => v !== undefined && v !== '')
  if (value === undefined) return undefined
  if (!(COMPRESSION_MODES as readonly string[]).includes(value)) {
    throw new AppError('INVALID_ARGUMENT', `Invalid compression mode "${value}"`, { hint: `Use one of: ${COMPRESSION_MODES.join(', ')} (--compression or CAIRN_COMPRESSION)` })
  }
  return value as CompressionMode
}

/**
 * The target pack size in bytes of --pack-size (MiB), else of CAIRN_PACK_SIZE or
 * RESTIC_PACK_SIZE; undefined when none is set (16 MiB). Throws INVALID_ARGUMENT outside
 * restic's 4 to 128 MiB.
 */
export function packSizeFrom(flagMiB: number | undefined, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const fromEnv = [env.CAIRN_PACK_SIZE, env.RESTIC_PACK_SIZE].find((v) => v !== undefined && v !== '')
  if (flagMiB === undefined && fromEnv === undefined) return undefined
  const mib = flagMiB ?? Number(fromEnv)
  if (!Number.isInteger(mib) || mib < 4 || mib > 128) {
    throw new AppError('INVALID_ARGUMENT', `Invalid pack size "${flagMiB ?? fromEnv}": it must be a whole number of MiB from 4 to 128`, {
      hint: 'Give --pack-size (or CAIRN_PACK_SIZE) in MiB, e.g. 16',
    })
  }
  return mib * 1024 * 1024
}
