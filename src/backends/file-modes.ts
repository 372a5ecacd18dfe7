/**
 * The modes a file-system backend (local, SFTP) gives the files and folders it makes, as
 * restic's do: read-only files, private folders, and both widened for the group when the
 * repository's `config` is group-readable (a repository shared by a group, setgid folders).
 */
export interface RepositoryModes {
  file: number
  dir: number
}

const PRIVATE: RepositoryModes = { file: 0o400, dir: 0o700 }
const GROUP: RepositoryModes = { file: 0o440, dir: 0o770 }

/** The modes for a repository whose `config` has mode `configMode` (undefined: not there or unknown). */
export function repositoryModes(configMode: number | undefined): RepositoryModes {
  return configMode !== undefined && (configMode & 0o040) !== 0 ? GROUP : PRIVATE
}
