import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
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
 * Finds the repository password the way restic does: a password command, else a password file,
 * else the password itself, else a prompt on a terminal. The flags come first; then the CAIRN_*
 * variables, when any of them is set, else the RESTIC_* ones (each tool's set is taken whole, so
 * a leftover RESTIC_PASSWORD_FILE does not override CAIRN_PASSWORD). A command and a file
 * together are refused, as restic refuses them.
 */
export async function resolvePassword(src: PasswordSource, question = 'enter password for repository: '): Promise<string> {
  const env = src.env ?? process.env
  const given = (v: string | undefined) => (v === undefined || v === '' ? undefined : v)
  const flags = given(src.passwordFile) !== undefined || given(src.passwordCommand) !== undefined
  const prefix = ['CAIRN_PASSWORD', 'CAIRN_PASSWORD_FILE', 'CAIRN_PASSWORD_COMMAND'].some((v) => given(env[v]) !== undefined) ? 'CAIRN' : 'RESTIC'
  const file = flags ? given(src.passwordFile) : given(env[`${prefix}_PASSWORD_FILE`])
  const command = flags ? given(src.passwordCommand) : given(env[`${prefix}_PASSWORD_COMMAND`])
  if (file !== undefined && command !== undefined) {
    const where = flags ? '--password-file and --password-command' : `${prefix}_PASSWORD_FILE and ${prefix}_PASSWORD_COMMAND`
    throw new AppError('INVALID_ARGUMENT', `A password file ("${file}") and a password command ("${command}") are both given (${where})`, {
      hint: 'Give only one of them',
    })
  }
  if (command !== undefined) return runPasswordCommand(command)
  if (file !== undefined) return readPasswordFile(file)
  const direct = given(env[`${prefix}_PASSWORD`])
  if (direct !== undefined) return direct
  if (src.prompt) return src.prompt(question)
  throw new AppError('NO_PASSWORD', NOT_GIVEN, {
    hint: 'Set CAIRN_PASSWORD (or RESTIC_PASSWORD), or use --password-file or --password-command',
  })
}

/** The message of the error for a password that was not given at all. */
export const NOT_GIVEN = 'No password given for the repository'

export async function readPasswordFile(path: string): Promise<string> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new AppError('NO_PASSWORD', `Cannot read password file "${path}": ${errnoCode(err) ?? messageOf(err)}`, {
      hint: 'Check the path given with --password-file and that it is readable',
    })
  }
  const password = passwordFromText(text)
  if (password === '') throw new AppError('NO_PASSWORD', `Password file "${path}" holds no password (it is empty or only whitespace)`, { hint: 'Write the password into the file' })
  return password
}

/**
 * The first line of what `command` prints. It runs with no standard input (a command that reads
 * it would wait for ever) and its standard error is the user's, as restic runs it: the messages of
 * a helper such as gpg or pass reach them.
 */
async function runPasswordCommand(command: string): Promise<string> {
  const failed = (why: string) =>
    new AppError('NO_PASSWORD', `Password command "${command}" ${why}`, { hint: 'Run the command by hand to see what is wrong; its messages are shown above' })
  const { code, signal, stdout } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] })
    const out: Buffer[] = []
    let size = 0
    child.stdout.on('data', (b: Buffer) => {
      size += b.length
      if (size <= 1 << 20) out.push(b)
    })
    child.on('error', (err) => reject(failed(`could not be run: ${messageOf(err)}`)))
    child.on('close', (c, s) => resolve({ code: c, signal: s, stdout: Buffer.concat(out).toString('utf8') }))
  })
  if (signal !== null) throw failed(`was ended by ${signal}`)
  if (code !== 0) throw failed(`failed with exit status ${code}`)
  const password = passwordFromText(stdout)
  if (password === '') throw failed('printed no password')
  return password
}

/**
 * The password in a file or a command's output, as restic reads it: the whole text without the
 * white space (spaces, tabs, line ends) around it.
 */
export function passwordFromText(text: string): string {
  return text.trim()
}
