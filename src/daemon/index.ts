/**
 * @module daemon
 * The long-running part of cairn: it runs backup sets and maintenance tasks on their schedules,
 * notices removable drives, tells the user what happened, and keeps the record.
 *
 * Terms:
 * - **job**: a backup set or a maintenance task (prune, check) the daemon runs; at most one run
 *   of a job at a time.
 * - **run**: one execution of a job, recorded in the history with its trigger (schedule,
 *   catch-up, manual, media), destinations, result, amounts, snapshots, errors and log.
 * - **catch-up**: the single run made when run times passed while the daemon was off or the
 *   machine slept.
 * - **removable destination**: a repository on a drive that comes and goes; absent at run time
 *   means a skipped (not failed) run and a *pending* destination, which gets its backup as soon
 *   as the drive appears.
 * - **state directory**: `$XDG_STATE_HOME/cairn` (history.sqlite, api-token, daemon.json).
 *
 * @example
 * const daemon = await Daemon.start({ plan, runSet, stateDir: stateDirectory() })
 * // ... SIGTERM:
 * await daemon.stop()
 */
export { Daemon, DEFAULT_LISTEN, type DaemonOptions } from './daemon.js'
export { DaemonClient, type ClientOptions } from './client.js'
export { isLoopback, type ListenAddress } from './api-server.js'
export type { ActiveJson, DestinationJson, RunJson, SetStatusJson, StatusJson, TaskStatusJson } from './api-types.js'
export { runJson } from './api-types.js'
export { DEFAULT_HISTORY_RETENTION, RunHistory, type HistoryRetention, type JobKind, type RunRecord } from './history.js'
export { jobsOf, type DaemonPlan, type DestinationPlan, type Job, type MaintenancePlan, type SetPlan } from './plan.js'
export type {
  DestinationOutcome,
  MaintenanceFn,
  MaintenanceRequest,
  MaintenanceResult,
  RunProgress,
  RunResult,
  RunSetFn,
  RunSetRequest,
  RunSetResult,
  RunTrigger,
} from './run-contract.js'
export { readDaemonInfo, runningDaemon, stateDirectory, STATE_FILES } from './state-dir.js'
export { planFromConfig } from './plan-from-config.js'
export { appRunMaintenance, appRunSet, toRunSetResult, type AppRunnerOptions } from './app-runner.js'
export {
  crontabBlock,
  daemonUnit,
  hasCrontabBlock,
  MARKER,
  onCalendar,
  replaceCrontabBlock,
  systemdUnits,
  type CairnCommand,
  type ScheduledSet,
  type UnitFile,
} from './schedule-install.js'
