// Greedy generations through the comparison panel's own path: InferenceClient -> the inference worker
// (node-llama-cpp) with the prompts the panel builds (extension/compare/prompt.ts, the GGUF's chat
// template). trainer/tests/test_gguf_export.py compares them with PyTorch's greedy decoding of the
// prompts the trainer builds, so a wrong template, BOS or tokenization shows as different text.
//
//   node --import tsx test/gguf/panelGreedy.ts '{"model": "/abs/m.gguf", "items": [{"problem": "...", "mode": "tier:64"}], "maxTokens": 48}'
// Reply, one JSON line: { "texts": [...], "tokens": [...], "stopReasons": [...], "promptTokens": [...] }
import { join } from 'node:path';
import { buildPrompt } from '../../extension/compare/prompt';
import { InferenceClient } from '../../extension/inference/client';

const request = JSON.parse(process.argv[2] ?? '{}') as { model: string; items: { problem: string; mode: string }[]; maxTokens: number };
async function main(): Promise<void> {
  const client = new InferenceClient({ workerPath: join(__dirname, '..', '..', 'extension', 'inference', 'worker.ts') });
  try {
    const info = await client.load({ modelPath: request.model, gpu: false, sequences: 1, threads: 1 });
    const results = [];
    for (const item of request.items) {
      const prompt = buildPrompt(info, item.problem, item.mode);
      results.push(await client.generate({ prompt: prompt.text, specialTokens: prompt.specialTokens, maxTokens: request.maxTokens, temperature: 0 }).result);
    }
    console.log(JSON.stringify({ texts: results.map((r) => r.text), tokens: results.map((r) => r.tokens), stopReasons: results.map((r) => r.stopReason), promptTokens: results.map((r) => r.promptTokens) }));
  } finally {
    await client.dispose();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`panelGreedy.ts: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
