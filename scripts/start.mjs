// `npm start`: the main job. Set up if needed, then train HBPO on the built-in default (the
// testbed, on the CPU unless a GPU is present). Extra arguments go to `python -m hbpo train`,
// e.g. `npm start -- --set train.steps=50`. Ctrl+C stops the run cleanly with a checkpoint.
import { spawn } from 'node:child_process';
import { root, setup, venvPython } from './setup.mjs';

setup();
const child = spawn(venvPython, ['-m', 'hbpo', 'train', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
// The trainer gets Ctrl+C from the terminal itself (same process group); do not die before it.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
