/**
 * @module app/sets
 * The backup sets of the config file, on top of the one-repository operations of `index.ts`:
 * running a set against its destinations in priority order (hooks around it, retention and
 * maintenance after it), probing whether a destination is there, and checking or describing the
 * config file. A second entry of app/ because it loads the config schema, which a plain
 * `backup` or `restore` never needs.
 */
export { runBackupSet, runSets, type RunSetOptions, type RunSetsRequest } from './run-set.js'
export { exitCodeOf, setStatusOf, type DestinationResult, type DestinationStatus, type RunEvent, type RunResult, type SetRunResult, type SetStatus, type SkipReason } from './run-set-result.js'
export { runHook, runHooks, type HookContext, type HookKind, type HookRun } from './hooks.js'
export { localPath, probeDestination, repositoryOptionsFor, type Availability, type SharedRepositoryOptions } from './set-destination.js'
export { maintainDestination, pruneRequestOf, retentionFlags, SET_TAG_PREFIX, setTag, type MaintenanceOptions, type MaintenanceOutcome } from './set-maintenance.js'
export { checkConfig, commandProgram, describeBackupSet, programExists, writeStarterConfig, type ConfigCheck, type SetDescription } from './config-ops.js'
