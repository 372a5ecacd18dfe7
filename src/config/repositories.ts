/**
 * A repository entry made ready to open: local paths absolute (`~` expanded), options and
 * environment values as strings, sizes in bytes.
 */
import { AppError } from '../base/index.js'
import { resolveConfigPath, resolveRepositoryUrl } from './paths.js'
import type { ConfigFile } from './schema.js'
import { parseByteSize } from './values.js'

/** A configured repository, ready for the app layer. */
export interface EffectiveRepository {
  name: string
  /** As restic's -r; a local path is absolute. */
  url: string
  passwordFile?: string
  passwordCommand?: string
  /** The name of the environment variable that holds the password. */
  passwordEnv?: string
  /** Extra environment for the backend (credentials). */
  env: Record<string, string>
  /** restic `-o` extended options. */
  options: Record<string, string>
  removable: boolean
  /** Least free space (bytes) a local destination must have before a backup. */
  minFree?: number
  cacert: string[]
  tlsClientCert?: string
  limitUploadKiB?: number
  limitDownloadKiB?: number
}

const strings = (r: Record<string, string | number | boolean> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [k, String(v)]))

/**
 * The repository called `name`, resolved against `dir` (the config file's directory). Throws
 * AppError CONFIG when there is none.
 *
 * @example
 * resolveRepository(config, 'usb', '/home/me/.config/cairn').removable // true
 */
export function resolveRepository(config: ConfigFile, name: string, dir: string, env: NodeJS.ProcessEnv = process.env): EffectiveRepository {
  const r = config.repositories?.[name]
  if (r === undefined) {
    throw new AppError('CONFIG', `No repository "${name}" in the config file`, {
      hint: `Define it under "repositories:"${Object.keys(config.repositories ?? {}).length > 0 ? ` (defined: ${Object.keys(config.repositories ?? {}).join(', ')})` : ''}`,
    })
  }
  const path = (p: string) => resolveConfigPath(p, dir, env)
  const cacert = r.cacert === undefined ? [] : typeof r.cacert === 'string' ? [r.cacert] : r.cacert
  return {
    name,
    url: resolveRepositoryUrl(r.url, dir, env),
    ...(r['password-file'] === undefined ? {} : { passwordFile: path(r['password-file']) }),
    ...(r['password-command'] === undefined ? {} : { passwordCommand: r['password-command'] }),
    ...(r['password-env'] === undefined ? {} : { passwordEnv: r['password-env'] }),
    env: strings(r.env),
    options: strings(r.options),
    removable: r.removable === true,
    ...(r['min-free'] === undefined ? {} : { minFree: parseByteSize(r['min-free']) }),
    cacert: cacert.map(path),
    ...(r['tls-client-cert'] === undefined ? {} : { tlsClientCert: path(r['tls-client-cert']) }),
    ...(r['limit-upload'] === undefined ? {} : { limitUploadKiB: r['limit-upload'] }),
    ...(r['limit-download'] === undefined ? {} : { limitDownloadKiB: r['limit-download'] }),
  }
}
