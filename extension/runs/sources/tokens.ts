// Token counts of text from another tool's run, with the model's own tokenizer (`tokenizer.json`
// and `tokenizer_config.json`, a file or an HF model folder), read by @huggingface/tokenizers (a
// maintained implementation of the tokenizers library's formats). No `vscode`.
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export interface TokenCounter {
  /** The tokenizer.json it was loaded from. */
  path: string;
  /** Ids of the text, without special tokens (as the trainer counts generated tokens). */
  encode(text: string): number[];
  decode(ids: number[]): string;
}

/** Load `tokenizer.json` (or the one inside a model folder) and its `tokenizer_config.json` beside it. */
export async function loadTokenizer(path: string): Promise<TokenCounter> {
  const file = (await stat(path)).isDirectory() ? join(path, 'tokenizer.json') : path;
  const json = JSON.parse(await readFile(file, 'utf8')) as object;
  let config: object = {};
  try {
    config = JSON.parse(await readFile(join(dirname(file), 'tokenizer_config.json'), 'utf8')) as object;
  } catch { /* optional */ }
  const tok = new Tokenizer(json, config);
  return {
    path: file,
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
  };
}
