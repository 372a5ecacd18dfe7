import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { AppError, errnoCode, messageOf } from '../base/index.js'

export interface PasswordSource {
  /** Read the password from this file (first line). */
  passwordFile?: string
  /** Run this shell command and use the first line of its output. */
  passwordCommand?: string
  /** Environment to look in (CAIRN_PASSWORD, then RESTIC_PASSWORD, and the *_FILE/_COMMAND forms). */
  env?: NodeJS.ProcessEnv
  /** Asks interactively; undefined when there is no terminal. */
  prompt?: (question: string) => Promise<string>
}

/**
 * Finds the repository password the way restic does: --password-file, --password-command,
 * then the environment (CAIRN_* before RESTIC_*), then a prompt on a terminal.
 */
export async function resolvePassword(src: PasswordSource, question = 'enter password for repository: '): Promise<string> {
  const env = src.env ?? process.env
  const file = src.passwordFile ?? env.CAIRN_PASSWORD_FILE ?? env.RESTIC_PASSWORD_FILE
  const command = src.passwordCommand ?? env.CAIRN_PASSWORD_COMMAND ?? env.RESTIC_PASSWORD_COMMAND
  if (src.passwordFile === undefined && src.passwordCommand === undefined) {
    const direct = env.CAIRN_PASSWORD ?? env.RESTIC_PASSWORD
    if (direct !== undefined && direct !== '') return direct
  }
  if (file !== undefined && file !== '') return readPasswordFile(file)
  if (command !== undefined && command !== '') return runPasswordCommand(command)
  if (src.prompt) return src.prompt(question)
  throw new AppError('NO_PASSWORD', 'No password given for the repository', {
    hint: 'Set CAIRN_PASSWORD (or RESTIC_PASSWORD), or use --password-file or --password-command',
  })
}

export async function readPasswordFile(path: string): Promise<string> {
  try {
    return firstLine(await readFile(path, 'utf8'))
  } catch (err) {
    throw new AppError('NO_PASSWORD', `Cannot read password file "${path}": ${errnoCode(err) ?? messageOf(err)}`, {
      hint: 'Check the path given with --password-file and that it is readable',
    })
  }
}

async function runPasswordCommand(command: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', command], { maxBuffer: 1 << 20 })
    return firstLine(stdout)
  } catch (err) {
    throw new AppError('NO_PASSWORD', `Password command "${command}" failed: ${messageOf(err).split('\n')[0]}`, {
      hint: 'Run the command by hand to see what is wrong',
    })
  }
}

/** The password in a file's or command's output: its first line. */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/)[0]
  return line
}
