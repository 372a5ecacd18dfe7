import * as fsp from 'node:fs/promises'

/**
 * The file system calls the local backend makes. Tests pass a wrapped copy to inject faults
 * (a full disk, a failing fsync) that a real file system cannot be made to produce on demand.
 */
export type LocalFs = Pick<
  typeof fsp,
  'open' | 'link' | 'rename' | 'unlink' | 'mkdir' | 'readdir' | 'stat' | 'lstat' | 'chmod'
>

export const nodeFs: LocalFs = fsp
