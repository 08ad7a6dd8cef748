// The run store: reads run folders (runs/<id>/events.jsonl), indexes and tails them.
// Plain Node, no `vscode`: extension features wrap these in tree views, panels and documents.
export { LineReader, parseLines, type LineError, type ParsedChunk, type ParsedLine } from './lineReader';
export { isPidAlive, type IsAlive } from './pid';
export type { RolloutSummary } from './rolloutIndex';
export type { RolloutGroupRead } from './rolloutReader';
export { defaultWorkerPath, EVENTS_FILE, loadRunFile, type LoadOptions, type WorkerMode } from './runFile';
export { RunIndex, type RunIndexOptions, type RunSummary } from './runIndex';
export {
  RunModel, type CheckpointInfo, type EvalResult, type LogLine, type RunEnd, type RunInfo, type RunStatus, type Series,
} from './runModel';
export { RunTailer, type Disposable, type RunChange, type TailerOptions } from './runTailer';
