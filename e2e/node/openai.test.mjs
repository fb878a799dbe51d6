// End-to-end tests of Sluice with the official OpenAI Node SDK (openai@6).
// Run by e2e/node_test.go against a running gateway; by hand:
//   SLUICE_BASE_URL=http://127.0.0.1:8080/v1 SLUICE_API_KEY=... node --test e2e/node/openai.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.SLUICE_BASE_URL;
const apiKey = process.env.SLUICE_API_KEY;
const chatModel = process.env.SLUICE_CHAT_MODEL ?? 'chat-small';
const embedModel = process.env.SLUICE_EMBED_MODEL ?? 'embed-small';
if (!baseURL || !apiKey) {
  throw new Error('set SLUICE_BASE_URL and SLUICE_API_KEY');
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20_000 });

// The fake upstream answers "Echo: <the last user message>" and counts one token a word.
const words = (s) => s.split(/\s+/).filter(Boolean).length;

test('chat completion', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: chatModel, messages: [{ role: 'user', content: 'hello from node' }] })
    .withResponse();
  assert.ok(response.headers.get('x-request-id'), 'x-request-id header');
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.choices.length, 1);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, 'Echo: hello from node');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.equal(data.usage.prompt_tokens, 3);
  assert.equal(data.usage.completion_tokens, 4);
  assert.equal(data.usage.total_tokens, 7);
});

test('chat stream with usage', async () => {
  const stream = await client.chat.completions.create({
    model: chatModel,
    messages: [{ role: 'user', content: 'stream from node' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const choice of chunk.choices) {
      content += choice.delta?.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(content, 'Echo: stream from node');
  assert.equal(finish, 'stop');
  assert.ok(chunks >= 4, `got ${chunks} chunks`);
  assert.deepEqual(
    [usage?.prompt_tokens, usage?.completion_tokens],
    [3, words('Echo: stream from node')],
  );
});

test('chat stream helper (runTools-free): finalChatCompletion', async () => {
  const runner = client.chat.completions.stream({
    model: chatModel,
    messages: [{ role: 'user', content: 'helper stream' }],
  });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'Echo: helper stream');
});

test('embeddings, SDK default (base64 on the wire) and float', async () => {
  const input = 'embed from node';
  const dflt = await client.embeddings.create({ model: embedModel, input });
  const float = await client.embeddings.create({ model: embedModel, input, encoding_format: 'float' });
  for (const res of [dflt, float]) {
    assert.equal(res.object, 'list');
    assert.equal(res.data.length, 1);
    assert.equal(res.data[0].embedding.length, 8);
    assert.equal(res.usage.prompt_tokens, 3);
    for (const v of res.data[0].embedding) assert.ok(v >= -1 && v <= 1, `value ${v}`);
  }
  assert.deepEqual(Array.from(dflt.data[0].embedding), float.data[0].embedding);
});

test('errors are typed', async () => {
  const bad = new OpenAI({ baseURL, apiKey: 'gw-test-wrong', maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: chatModel, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401,
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404,
  );
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(chatModel), `models: ${ids}`);
});
