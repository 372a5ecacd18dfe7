/**
 * Live events of the daemon, fanned out to whoever listens: the API's server-sent-event
 * stream, the daemon's own log, tests. A listener that throws is dropped from that event only.
 */
import type { RunRecord } from './history.js'
import type { RunProgress } from './run-contract.js'

/** Everything the daemon reports while it works. */
export type DaemonEvent =
  | { type: 'run-started'; run: RunRecord }
  | { type: 'progress'; runId: number; job: string; progress: RunProgress }
  | { type: 'log'; runId: number; job: string; line: string }
  | { type: 'run-finished'; run: RunRecord }
  | { type: 'destination'; name: string; present: boolean }
  | { type: 'notice'; level: 'info' | 'warn'; message: string }

/** A publish/subscribe hub for {@link DaemonEvent}s. */
export class EventBus {
  #listeners = new Set<(e: DaemonEvent) => void>()

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: (e: DaemonEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  publish(event: DaemonEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event)
      } catch {
        // A broken listener (a closed socket) must not stop the daemon or other listeners.
      }
    }
  }

  /** How many listeners there are. */
  get size(): number {
    return this.#listeners.size
  }
}
