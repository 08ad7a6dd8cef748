// Comparison prompts, built the way the trainer builds rollout prompts (trainer/hbpo/prompts.py):
//
//     <chat template up to the assistant turn><think>
//     I will answer the question within 512 tokens.
//     <- generation starts here
//
// The chat template is the GGUF's own (`tokenizer.chat_template`, Jinja), rendered with
// @huggingface/jinja (the renderer node-llama-cpp uses), with the model's BOS/EOS text, and tokenized
// with special tokens parsed, as the trainer tokenizes it (no BOS added beyond the template's; the
// worker drops a leading BOS when llama.cpp adds its own). A model without a template gets the plain
// question.
import { Template } from '@huggingface/jinja';
import { parseModeKey, type ModeKey } from '../../common/mode';

/** The trainer's PromptConfig defaults (trainer/hbpo/config.py; a unit test keeps them equal). */
export const PROMPT_DEFAULTS = {
  questionTemplate: '{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.',
  system: null as string | null,
  thinkOpen: '<think>',
  budgetSentence: 'I will answer the question within {budget} tokens.',
  efficiencySentence: 'I will answer the question with minimal tokens.',
};

export type PromptConfig = typeof PROMPT_DEFAULTS;

export interface ModelTemplate {
  chatTemplate: string | null;
  bosText: string;
  eosText: string;
}

export interface BuiltPrompt {
  text: string;
  /** Parse special-token text (a chat template's markers) as tokens. */
  specialTokens: boolean;
}

/** The start of every mode's prompt: the chat turn (or the plain question) and the opened think tag. */
export function promptHead(model: ModelTemplate, problem: string, cfg: PromptConfig = PROMPT_DEFAULTS): BuiltPrompt {
  const question = cfg.questionTemplate.replaceAll('{problem}', problem);
  if (!model.chatTemplate) return { text: `${question}\n${cfg.thinkOpen}\n`, specialTokens: false };
  const messages = [
    ...(cfg.system ? [{ role: 'system', content: cfg.system }] : []),
    { role: 'user', content: question },
  ];
  let text: string;
  try {
    text = new Template(model.chatTemplate).render({
      messages, add_generation_prompt: true, bos_token: model.bosText, eos_token: model.eosText,
    });
  } catch (err) {
    throw new Error(`the model's chat template does not render: ${(err as Error).message}`);
  }
  // Templates of reasoning models (R1-distill, Qwen3) already open the tag; do not open it twice.
  if (!text.trimEnd().endsWith(cfg.thinkOpen)) text += `${cfg.thinkOpen}\n`;
  else if (!text.endsWith('\n')) text += '\n';
  return { text, specialTokens: true };
}

/** The whole prompt for one mode. */
export function buildPrompt(model: ModelTemplate, problem: string, mode: ModeKey, cfg: PromptConfig = PROMPT_DEFAULTS): BuiltPrompt {
  const head = promptHead(model, problem, cfg);
  const m = parseModeKey(mode);
  if (!m) throw new Error(`unknown mode "${mode}"; expected natural, efficiency or tier:<budget>`);
  if (m.kind === 'natural') return head;
  const sentence = m.kind === 'efficiency' ? cfg.efficiencySentence : cfg.budgetSentence.replaceAll('{budget}', String(m.budget));
  return { ...head, text: `${head.text}${sentence}\n` };
}
