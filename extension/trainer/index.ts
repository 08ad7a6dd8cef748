// Trainer supervision: validate configs, start/resume/stop `python -m hbpo`, pick the interpreter.
// Plain Node (no `vscode` import), so all of it runs in tests outside the editor.
export { checkTrainer, resolveInterpreter } from './interpreter';
export type { InterpreterSource, ResolvedInterpreter, ResolveOptions, TrainerCheck } from './interpreter';
export { TrainerProcess } from './process';
export type { StopOptions, StopResult, TrainerCallbacks, TrainerExit } from './process';
export { InvalidConfigError, liveTrainerPid, resumeTraining, startTraining } from './start';
export type { ResumeOptions, StartOptions } from './start';
export { processChoices, StartCancelled } from './processes';
export type { AskProcesses } from './processes';
export { TrainerUnavailableError, validateConfig } from './validate';
export type { ValidationResult } from './validate';
export { locateField, locateProblems, splitProblem } from './yamlLocate';
export type { FieldLocation, ProblemLocation } from './yamlLocate';
export type { FailureKind } from './exec';
export {
  findBasePython, findBundle, findUv, managedPython, planSetup, readStamp, runSetup, SetupCancelled, SetupFailed, sha256Of,
} from './environment';
export type { SetupPlan, SetupProgress, SetupStamp, SetupStep, TrainerBundle } from './environment';
