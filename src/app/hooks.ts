/**
 * Hook commands around a backup set's run: each is run with `sh -c` in its own process group,
 * with a timeout, an environment describing the run (CAIRN_SET, CAIRN_RESULT, …), and its
 * output handed on line by line. A timeout or an abort ends the whole group (SIGTERM, then
 * SIGKILL after a grace period), so a hook's children do not outlive it.
 */
import { spawn } from 'node:child_process'
import type { HookCommand } from '../config/index.js'

/** The four places hooks run. */
export type HookKind = 'before' | 'after' | 'on-error' | 'finally'

/** How one hook command ended. */
export interface HookRun {
  hook: HookKind
  command: string
  /** True when it exited 0 within its timeout. */
  ok: boolean
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  /** Stopped because the run was interrupted. */
  aborted: boolean
  continueOnError: boolean
  durationMs: number
  /** A one-line description of a failure, for messages and CAIRN_ERROR. */
  error?: string
}

/** How to run hooks. */
export interface HookContext {
  env: NodeJS.ProcessEnv
  cwd: string
  /** Ends a running hook (not used for `finally` hooks, which run whatever happened). */
  signal?: AbortSignal
  /** Each line a hook prints. */
  onOutput?: (hook: HookKind, command: string, stream: 'stdout' | 'stderr', line: string) => void
  onStart?: (hook: HookKind, command: string) => void
  onEnd?: (run: HookRun) => void
  /** Time between SIGTERM and SIGKILL on timeout or abort; default 5 s. */
  killGraceMs?: number
}

function lineSplitter(emit: (line: string) => void): { push(b: Buffer): void; end(): void } {
  let rest = ''
  return {
    push(b) {
      const text = rest + b.toString('utf8')
      const lines = text.split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) emit(l.replace(/\r$/, ''))
    },
    end() {
      if (rest !== '') emit(rest)
      rest = ''
    },
  }
}

/** How long a hook's output is still read after its shell exited. */
const OUTPUT_GRACE_MS = 500

/**
 * Runs one hook command and resolves when its shell exited and its output ended (or half a
 * second after the shell exited, when a process left in the background holds the output); never rejects: a command
 * that cannot start fails with exit code null.
 *
 * @example
 * const run = await runHook('before', { command: 'pg_dump db > /data/db.sql', timeoutMs: 60_000, continueOnError: false }, ctx)
 */
export function runHook(hook: HookKind, cmd: HookCommand, ctx: HookContext): Promise<HookRun> {
  const started = Date.now()
  ctx.onStart?.(hook, cmd.command)
  return new Promise((resolveRun) => {
    let timedOut = false
    let aborted = false
    let killTimer: NodeJS.Timeout | undefined
    const child = spawn('/bin/sh', ['-c', cmd.command], { cwd: ctx.cwd, env: ctx.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const out = lineSplitter((l) => ctx.onOutput?.(hook, cmd.command, 'stdout', l))
    const err = lineSplitter((l) => ctx.onOutput?.(hook, cmd.command, 'stderr', l))
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig)
      } catch {
        // the group is gone already
      }
    }
    const groupAlive = (): boolean => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 0)
        return child.pid !== undefined
      } catch {
        return false
      }
    }
    const stop = () => {
      killGroup('SIGTERM')
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), ctx.killGraceMs ?? 5000)
      killTimer.unref()
    }
    const timer = setTimeout(() => {
      timedOut = true
      stop()
    }, cmd.timeoutMs)
    const onAbort = () => {
      aborted = true
      stop()
    }
    if (ctx.signal?.aborted) onAbort()
    else ctx.signal?.addEventListener('abort', onAbort, { once: true })
    let done = false
    let drainTimer: NodeJS.Timeout | undefined
    const finish = (exitCode: number | null, signal: string | null, spawnError?: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (drainTimer) clearTimeout(drainTimer)
      // Stopped (timeout, abort): the shell may have gone on SIGTERM while a process of its group
      // ignores it. That process still gets SIGKILL when the grace period ends, and this process
      // waits for that moment rather than leave it running.
      if (killTimer !== undefined) {
        if (groupAlive()) killTimer.ref()
        else clearTimeout(killTimer)
      }
      ctx.signal?.removeEventListener('abort', onAbort)
      out.end()
      err.end()
      const ok = exitCode === 0 && !timedOut && spawnError === undefined
      const run: HookRun = {
        hook,
        command: cmd.command,
        ok,
        exitCode,
        signal,
        timedOut,
        aborted,
        continueOnError: cmd.continueOnError,
        durationMs: Date.now() - started,
      }
      if (!ok) {
        const why =
          spawnError ??
          (timedOut ? `timed out after ${(cmd.timeoutMs / 1000).toFixed(cmd.timeoutMs < 10_000 ? 1 : 0)}s` : aborted ? 'stopped: interrupted' : signal ? `killed by ${signal}` : `exit code ${exitCode}`)
        run.error = `${hook} hook "${cmd.command}" failed: ${why}`
      }
      ctx.onEnd?.(run)
      resolveRun(run)
    }
    child.on('error', (e) => finish(null, null, e.message))
    // The hook is over when its shell exits. A process it started in the background (a service
    // restarted with `&`) may hold the output pipes open for as long as it runs: the output is
    // read a moment longer, then let go, and that process is left alone (Go's exec.Cmd does the
    // same with WaitDelay).
    child.on('exit', (code, sig) => {
      drainTimer = setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        finish(code, sig)
      }, OUTPUT_GRACE_MS)
      drainTimer.unref()
    })
    child.on('close', (code, sig) => finish(code, sig))
  })
}

/**
 * Runs a list of hooks in order. `before` hooks stop at the first failure that is not
 * `continue-on-error`; the others all run whatever the earlier ones did (each is a separate
 * clean-up or report). `failed` is the first failure that counts.
 */
export async function runHooks(hook: HookKind, commands: readonly HookCommand[], ctx: HookContext): Promise<{ runs: HookRun[]; failed?: HookRun }> {
  const runs: HookRun[] = []
  let failed: HookRun | undefined
  for (const cmd of commands) {
    if (hook !== 'finally' && ctx.signal?.aborted) break
    const run = await runHook(hook, cmd, ctx)
    runs.push(run)
    if (!run.ok && !run.continueOnError) {
      failed ??= run
      if (hook === 'before') break
    }
  }
  return { runs, ...(failed ? { failed } : {}) }
}
