/**
 * The record of every run, in SQLite (better-sqlite3) under the state directory: which job,
 * why, where, when, how it ended, how much, which snapshots, what failed, and its log. It keeps
 * its own retention (runs older than `keepDays`, always keeping each job's latest `keepPerJob`).
 * The status API, `cairn runs`, catch-up after downtime and the stale check all read it.
 */
import { chmodSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import { AppError, lazyRequire, messageOf } from '../base/index.js'
import type { DestinationOutcome, RunResult, RunTrigger } from './run-contract.js'


const sqlite = lazyRequire<typeof BetterSqlite3>('better-sqlite3')
/** What kind of job a run was. */
export type JobKind = 'backup' | 'prune' | 'check'

/** One run as recorded. Times are ms since the epoch. */
export interface RunRecord {
  id: number
  /** The set's name, or the maintenance task's id. */
  job: string
  kind: JobKind
  trigger: RunTrigger
  /** Per-destination outcomes; while running, the destinations it was started for. */
  destinations: DestinationOutcome[]
  startedAt: number
  endedAt?: number
  result: RunResult | 'running'
  files: number
  bytes: number
  snapshotIds: string[]
  errors: string[]
}

/** How a run ended, for {@link RunHistory.finish}. */
export interface RunEnd {
  endedAt: number
  result: RunResult
  destinations: DestinationOutcome[]
  files: number
  bytes: number
  snapshotIds: string[]
  errors: string[]
}

/** Which runs {@link RunHistory.list} returns, newest first. */
export interface RunQuery {
  job?: string
  kind?: JobKind
  /** Only runs with a smaller id (paging). */
  beforeId?: number
  /** At most this many (default 50, at most 1000). */
  limit?: number
}

/** History retention. */
export interface HistoryRetention {
  /** Delete runs that started more than this many days ago (default 90)… */
  keepDays: number
  /** …but always keep each job's latest this many (default 20). */
  keepPerJob: number
}

/** The default retention of the run history. */
export const DEFAULT_HISTORY_RETENTION: HistoryRetention = { keepDays: 90, keepPerJob: 20 }

/**
 * Largest log kept per run. A longer one keeps its first half and its last lines, with a note
 * between: a hook that prints a great deal must not push out the lines that say how the run
 * ended, which come last.
 */
export const MAX_LOG_BYTES = 1024 * 1024

/** The part of MAX_LOG_BYTES that the first lines of a long log keep. */
const LOG_HEAD_BYTES = MAX_LOG_BYTES / 2

const TRUNCATED = '[log truncated: more than 1 MiB; its first and last lines are kept]\n'

interface Row {
  id: number
  job: string
  kind: JobKind
  trigger: RunTrigger
  destinations: string
  started_at: number
  ended_at: number | null
  result: RunResult | 'running'
  files: number
  bytes: number
  snapshot_ids: string
  errors: string
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  kind TEXT NOT NULL,
  trigger TEXT NOT NULL,
  destinations TEXT NOT NULL DEFAULT '[]',
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  result TEXT NOT NULL,
  files INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  snapshot_ids TEXT NOT NULL DEFAULT '[]',
  errors TEXT NOT NULL DEFAULT '[]',
  log_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_job_started ON runs (job, started_at);
CREATE TABLE IF NOT EXISTS log_lines (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_lines_run ON log_lines (run_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

const COLUMNS = 'id, job, kind, trigger, destinations, started_at, ended_at, result, files, bytes, snapshot_ids, errors'

/** The run history database; see the module comment. Synchronous, one connection. */
export class RunHistory {
  readonly #db: BetterSqlite3.Database
  readonly #statements = new Map<string, BetterSqlite3.Statement>()

  /** Runs that a daemon which died left "running", closed as failures when this history opened. */
  readonly interrupted: readonly number[]

  private constructor(db: BetterSqlite3.Database, interrupted: readonly number[] = []) {
    this.interrupted = interrupted
    this.#db = db
  }

  /** A prepared statement, prepared once. */
  #sql(source: string): BetterSqlite3.Statement {
    let st = this.#statements.get(source)
    if (st === undefined) {
      st = this.#db.prepare(source)
      this.#statements.set(source, st)
    }
    return st
  }

  /**
   * Opens an existing history to read only (`cairn runs` while no daemon runs): nothing in it
   * changes, runs a daemon left "running" included.
   */
  static openReadOnly(path: string): RunHistory {
    try {
      const db = new (sqlite())(path, { readonly: true, fileMustExist: true })
      db.pragma('busy_timeout = 5000')
      return new RunHistory(db)
    } catch (err) {
      throw new AppError('IO', `Cannot read the run history "${path}": ${messageOf(err)}`, {
        hint: 'The daemon creates it when it first starts; check the state directory (--state-dir)',
        cause: err,
      })
    }
  }

  /**
   * Opens (creating if needed, mode 0600) the database at `path`, or an in-memory one for
   * ":memory:". Runs left "running" by a daemon that died are closed as failures.
   */
  static open(path: string, now: number = Date.now()): RunHistory {
    let db: BetterSqlite3.Database
    try {
      db = new (sqlite())(path)
      if (path !== ':memory:') chmodSync(path, 0o600)
      db.pragma('journal_mode = WAL')
      db.pragma('busy_timeout = 5000')
      db.pragma('foreign_keys = ON')
      // WAL with NORMAL sync: a crash cannot corrupt the file; a power cut may lose the last lines.
      db.pragma('synchronous = NORMAL')
      db.exec(SCHEMA)
    } catch (err) {
      throw new AppError('IO', `Cannot open the run history "${path}": ${messageOf(err)}`, {
        hint: 'Check that the state directory is writable, or move the damaged file away to start a new history',
        cause: err,
      })
    }
    const interrupted = (db.prepare(`SELECT id FROM runs WHERE result = 'running' ORDER BY id`).all() as { id: number }[]).map((r) => r.id)
    db.prepare(`UPDATE runs SET result = 'failure', ended_at = ?, errors = ? WHERE result = 'running'`).run(
      now,
      JSON.stringify(['The daemon stopped before the run finished']),
    )
    return new RunHistory(db, interrupted)
  }

  /** Records the start of a run and returns its id. */
  start(run: { job: string; kind: JobKind; trigger: RunTrigger; destinations: DestinationOutcome[]; startedAt: number }): number {
    const r = this.#db
      .prepare(`INSERT INTO runs (job, kind, trigger, destinations, started_at, result) VALUES (?, ?, ?, ?, ?, 'running')`)
      .run(run.job, run.kind, run.trigger, JSON.stringify(run.destinations), run.startedAt)
    return Number(r.lastInsertRowid)
  }

  /**
   * Appends text to a run's log (a newline is added when missing). Past {@link MAX_LOG_BYTES},
   * the oldest lines after the first half (and the note that marks the cut) give way.
   */
  appendLog(id: number, text: string): void {
    const line = text.endsWith('\n') ? text : `${text}\n`
    const row = this.#sql('SELECT log_bytes AS n FROM runs WHERE id = ?').get(id) as { n: number } | undefined
    if (!row) return
    const size = Buffer.byteLength(line)
    let bytes = row.n
    if (bytes + size > MAX_LOG_BYTES) {
      if (size > MAX_LOG_BYTES - LOG_HEAD_BYTES - TRUNCATED.length) return
      let mark = this.#sql('SELECT seq FROM log_lines WHERE run_id = ? AND text = ? ORDER BY seq LIMIT 1').pluck().get(id, TRUNCATED) as number | undefined
      if (mark === undefined) {
        // The first cut: the line that ends the first half becomes the note.
        let head = 0
        for (const r of this.#sql('SELECT seq, length(CAST(text AS BLOB)) AS n FROM log_lines WHERE run_id = ? ORDER BY seq').all(id) as Array<{ seq: number; n: number }>) {
          head += r.n
          if (head <= LOG_HEAD_BYTES) continue
          mark = r.seq
          bytes += TRUNCATED.length - r.n
          this.#sql('UPDATE log_lines SET text = ? WHERE seq = ?').run(TRUNCATED, r.seq)
          break
        }
        if (mark === undefined) return
      }
      // The oldest lines after the note go until this one fits; the first half stays.
      const after = this.#sql('SELECT seq, length(CAST(text AS BLOB)) AS n FROM log_lines WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT 1000').all(id, mark) as Array<{ seq: number; n: number }>
      let upTo: number | undefined
      for (const r of after) {
        if (bytes + size <= MAX_LOG_BYTES) break
        bytes -= r.n
        upTo = r.seq
      }
      if (upTo !== undefined) this.#sql('DELETE FROM log_lines WHERE run_id = ? AND seq > ? AND seq <= ?').run(id, mark, upTo)
      if (bytes + size > MAX_LOG_BYTES) return
    }
    this.#sql('INSERT INTO log_lines (run_id, text) VALUES (?, ?)').run(id, line)
    this.#sql('UPDATE runs SET log_bytes = ? WHERE id = ?').run(bytes + size, id)
  }

  /** Records how a run ended. */
  finish(id: number, end: RunEnd): void {
    this.#db
      .prepare(
        `UPDATE runs SET ended_at = ?, result = ?, destinations = ?, files = ?, bytes = ?, snapshot_ids = ?, errors = ? WHERE id = ?`,
      )
      .run(end.endedAt, end.result, JSON.stringify(end.destinations), end.files, end.bytes, JSON.stringify(end.snapshotIds), JSON.stringify(end.errors), id)
  }

  /** One run, or undefined. */
  get(id: number): RunRecord | undefined {
    const row = this.#sql(`SELECT ${COLUMNS} FROM runs WHERE id = ?`).get(id) as Row | undefined
    return row && toRecord(row)
  }

  /** A run's log, or undefined for an unknown run. */
  log(id: number): string | undefined {
    if (this.#sql('SELECT 1 FROM runs WHERE id = ?').get(id) === undefined) return undefined
    const lines = this.#sql('SELECT text FROM log_lines WHERE run_id = ? ORDER BY seq').pluck().all(id) as string[]
    return lines.join('')
  }

  /** Runs, newest first. */
  list(query: RunQuery = {}): RunRecord[] {
    const where: string[] = []
    const args: (string | number)[] = []
    if (query.job !== undefined) (where.push('job = ?'), args.push(query.job))
    if (query.kind !== undefined) (where.push('kind = ?'), args.push(query.kind))
    if (query.beforeId !== undefined) (where.push('id < ?'), args.push(query.beforeId))
    const limit = Math.min(Math.max(1, query.limit ?? 50), 1000)
    const sql = `SELECT ${COLUMNS} FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`
    return (this.#sql(sql).all(...args) as Row[]).map(toRecord)
  }

  /** The latest run of a job (any result, running included). */
  lastRun(job: string): RunRecord | undefined {
    const row = this.#sql(`SELECT ${COLUMNS} FROM runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT 1`).get(job) as Row | undefined
    return row && toRecord(row)
  }

  /** The latest run of a job that wrote a backup (success, or partial: a snapshot with some files unreadable). */
  lastSuccess(job: string): RunRecord | undefined {
    const row = this.#db
      .prepare(`SELECT ${COLUMNS} FROM runs WHERE job = ? AND result IN ('success', 'partial') ORDER BY started_at DESC, id DESC LIMIT 1`)
      .get(job) as Row | undefined
    return row && toRecord(row)
  }

  /** Deletes runs the retention does not keep; returns how many. */
  prune(now: number, retention: HistoryRetention = DEFAULT_HISTORY_RETENTION): number {
    const cutoff = now - retention.keepDays * 86_400_000
    const r = this.#db
      .prepare(
        `DELETE FROM runs WHERE started_at < ? AND result != 'running' AND id NOT IN (
           SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY job ORDER BY started_at DESC, id DESC) AS n FROM runs) WHERE n <= ?)`,
      )
      .run(cutoff, retention.keepPerJob)
    return r.changes
  }

  /** A small persistent value (notification state, first-seen times), or undefined. */
  getMeta(key: string): string | undefined {
    const row = this.#sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined
    return row?.value
  }

  setMeta(key: string, value: string): void {
    this.#sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  close(): void {
    if (this.#db.open) this.#db.close()
  }
}

function toRecord(row: Row): RunRecord {
  return {
    id: row.id,
    job: row.job,
    kind: row.kind,
    trigger: row.trigger,
    destinations: JSON.parse(row.destinations) as DestinationOutcome[],
    startedAt: row.started_at,
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
    result: row.result,
    files: row.files,
    bytes: row.bytes,
    snapshotIds: JSON.parse(row.snapshot_ids) as string[],
    errors: JSON.parse(row.errors) as string[],
  }
}
