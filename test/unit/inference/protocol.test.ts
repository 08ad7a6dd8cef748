import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idOf, isRequestId, parseReply, parseRequest } from '../../../extension/inference/protocol';

const UNSAFE = [2 ** 53, 2 ** 53 + 2, Number.MAX_VALUE, 1e300];

test('request ids are safe non-negative integers: above 2^53 two ids would be one number', () => {
  assert.ok(isRequestId(0) && isRequestId(1) && isRequestId(Number.MAX_SAFE_INTEGER));
  for (const bad of [...UNSAFE, -1, 1.5, NaN, Infinity, '1', null, undefined]) assert.equal(isRequestId(bad), false, String(bad));
  // 2^53 + 1 cannot even be told from 2^53 once parsed: that is why the bound is the safe range.
  assert.equal(JSON.parse('9007199254740993'), 2 ** 53);

  assert.deepEqual(parseRequest({ type: 'abort', id: Number.MAX_SAFE_INTEGER }), { type: 'abort', id: Number.MAX_SAFE_INTEGER });
  for (const id of [...UNSAFE, -1, 0.5]) {
    for (const msg of [
      { type: 'abort', id }, { type: 'unload', id }, { type: 'countTokens', id, texts: ['a'] },
      { type: 'load', id, modelPath: 'm.gguf' }, { type: 'generate', id, prompt: 'p', maxTokens: 4, temperature: 0 },
    ]) {
      assert.throws(() => parseRequest(msg), new RegExp(`inference request "${msg.type}": bad field id = `), `${msg.type} id ${id}`);
    }
    for (const msg of [
      { type: 'chunk', id, text: 'x', tokens: 1 }, { type: 'unloaded', id }, { type: 'counts', id, counts: [1] },
      { type: 'error', id, message: 'boom' },
      { type: 'done', id, text: '', tokens: 0, stopReason: 'eos', ms: 1, marks: [[0, 0]], promptTokens: 3 },
    ]) {
      assert.throws(() => parseReply(msg), new RegExp(`inference reply "${msg.type}": bad field id = `), `${msg.type} id ${id}`);
    }
    // A malformed message's error does not echo an id that would name some other request.
    assert.equal(idOf({ type: 'abort', id }), undefined);
  }
  assert.equal(idOf({ type: 'nope', id: 7 }), 7);
  assert.deepEqual(parseReply({ type: 'error', message: 'no id' }), { type: 'error', message: 'no id' });
});

test('other integers of the protocol are safe integers too', () => {
  const generate = { type: 'generate', id: 1, prompt: 'p', maxTokens: 4, temperature: 0 };
  assert.ok(parseRequest(generate));
  assert.throws(() => parseRequest({ ...generate, maxTokens: 2 ** 53 }), /maxTokens/);
  assert.throws(() => parseRequest({ ...generate, seed: 2 ** 60 }), /seed/);
  assert.throws(() => parseReply({ type: 'chunk', id: 1, text: 'x', tokens: 2 ** 53 }), /tokens/);
  assert.throws(() => parseReply({ type: 'counts', id: 1, counts: [1, 2 ** 53] }), /counts/);
  assert.throws(() => parseReply({ type: 'ready', pid: 2 ** 53 }), /pid/);
  assert.deepEqual(parseReply({ type: 'ready', pid: 4242 }), { type: 'ready', pid: 4242 });
});
