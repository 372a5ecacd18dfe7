/**
 * A command as a notification target: run with /bin/sh -c, the message on stdin, the event in
 * CAIRN_* variables. Killed when it outlives its timeout.
 */
import { spawn } from 'node:child_process'
import type { NotifyEvent } from './event.js'

/** The CAIRN_* variables a notification command sees. */
export function commandEnv(e: NotifyEvent): Record<string, string> {
  return {
    CAIRN_EVENT: e.event,
    CAIRN_JOB: e.job,
    CAIRN_SET: e.set ?? '',
    CAIRN_KIND: e.kind,
    CAIRN_HOST: e.host,
    CAIRN_RESULT: e.result ?? '',
    CAIRN_TRIGGER: e.trigger ?? '',
    CAIRN_RUN_ID: e.runId === undefined ? '' : String(e.runId),
    CAIRN_TITLE: e.title,
    CAIRN_MESSAGE: e.message,
    CAIRN_FILES: e.files === undefined ? '' : String(e.files),
    CAIRN_BYTES: e.bytes === undefined ? '' : String(e.bytes),
    CAIRN_DURATION_SECONDS: e.durationMs === undefined ? '' : String(e.durationMs / 1000),
    CAIRN_DESTINATIONS: e.destinations.map((d) => d.name).join(' '),
    CAIRN_SNAPSHOT_IDS: e.snapshotIds.join(' '),
    CAIRN_ERRORS: e.errors.join('\n'),
  }
}

/**
 * Runs the command; rejects when it exits non-zero, is killed, or outlives `timeoutMs`. It runs in
 * a process group of its own, and at the timeout the whole group is stopped: a program it started
 * (curl in a pipeline, say) would otherwise keep the delivery waiting. It is done when its shell
 * exits; a process it leaves in the background is not waited for.
 */
export function runCommand(what: string, command: string, e: NotifyEvent, timeoutMs: number, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...commandEnv(e) }, stdio: ['pipe', 'ignore', 'pipe'], detached: true, ...(cwd === undefined ? {} : { cwd }) })
    let stderr = ''
    let timedOut = false
    let settled = false
    let drain: NodeJS.Timeout | undefined
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 2000) stderr += b.toString()
    })
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig)
      } catch {
        // the group is gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      signalGroup('SIGTERM')
      setTimeout(() => signalGroup('SIGKILL'), 2000).unref()
    }, timeoutMs)
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (drain) clearTimeout(drain)
      if (code === 0 && !timedOut) return resolve()
      const tail = stderr.trim().split('\n').slice(-3).join(' / ')
      const how = timedOut ? `did not finish within ${timeoutMs / 1000}s` : signal ? `was killed by ${signal}` : `exited with status ${code}`
      reject(new Error(`${what}: command "${command}" ${how}${tail ? `: ${tail}` : ''}`))
    }
    child.on('error', (err) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new Error(`${what}: cannot run "${command}": ${err.message}`))
    })
    child.on('exit', (code, signal) => {
      drain = setTimeout(() => {
        child.stderr.destroy()
        settle(code, signal)
      }, 500)
      drain.unref()
    })
    child.on('close', (code, signal) => settle(code, signal))
    child.stdin.on('error', () => {})
    child.stdin.end(`${e.title}\n\n${e.message}\n`)
  })
}
