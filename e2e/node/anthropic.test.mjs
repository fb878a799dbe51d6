// End-to-end tests of Sluice with the official Anthropic Node SDK (@anthropic-ai/sdk).
// Run by e2e/node_test.go against the protocols gateway; by hand:
//   SLUICE_ROOT_URL=http://127.0.0.1:8080 SLUICE_API_KEY=... node --test e2e/node/anthropic.test.mjs
// SLUICE_ANTHROPIC_MODEL is served by an Anthropic upstream (passed through),
// SLUICE_OPENAI_MODEL by an OpenAI one (translated). Every request carries
// X-E2e-Marker: <SLUICE_E2E_MARKER>.anthropic.<model>.<case>, which the Go side uses to
// check where it went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const root = process.env.SLUICE_ROOT_URL;
const apiKey = process.env.SLUICE_API_KEY;
const marker = process.env.SLUICE_E2E_MARKER ?? 'node';
const models = [process.env.SLUICE_ANTHROPIC_MODEL ?? 'm-anthropic', process.env.SLUICE_OPENAI_MODEL ?? 'm-openai'];
if (!root || !apiKey) {
  throw new Error('set SLUICE_ROOT_URL and SLUICE_API_KEY');
}

// Every upstream fake answers "Echo: <the last user text>" and counts one token a word.
const echo = (s) => `Echo: ${s}`;
const words = (s) => s.split(/\s+/).filter(Boolean).length;

const client = (model, name) =>
  new Anthropic({
    baseURL: root, // the SDK appends /v1/messages
    apiKey, // sent as Authorization: Bearer
    maxRetries: 0,
    timeout: 20_000,
    defaultHeaders: { 'X-E2e-Marker': `${marker}.anthropic.${model}.${name}` },
  });

const tools = [
  {
    name: 'get_weather',
    description: 'Weather in a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
];

for (const model of models) {
  test(`messages.create on ${model}`, async () => {
    const prompt = 'hello from the anthropic node sdk';
    const { data, response } = await client(model, 'sdk-create')
      .messages.create({ model, max_tokens: 256, messages: [{ role: 'user', content: prompt }] })
      .withResponse();
    assert.ok(response.headers.get('x-request-id'), 'x-request-id header');
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.deepEqual(
      data.content.map((b) => [b.type, b.text]),
      [['text', echo(prompt)]],
    );
    assert.equal(data.stop_reason, 'end_turn');
    assert.deepEqual([data.usage.input_tokens, data.usage.output_tokens], [words(prompt), words(echo(prompt))]);
  });

  test(`messages.stream on ${model}`, async () => {
    const prompt = 'stream from the anthropic node sdk';
    const stream = client(model, 'sdk-stream').messages.stream({
      model,
      max_tokens: 256,
      messages: [{ role: 'user', content: prompt }],
    });
    let text = '';
    const events = [];
    stream.on('text', (delta) => {
      text += delta;
    });
    stream.on('streamEvent', (ev) => events.push(ev.type));
    const final = await stream.finalMessage();
    assert.equal(text, echo(prompt));
    assert.equal(final.content[0].text, echo(prompt));
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(events[0], 'message_start');
    assert.equal(events.at(-1), 'message_stop');
    assert.ok(events.filter((e) => e === 'content_block_delta').length >= 2, `events: ${events}`);
    assert.deepEqual([final.usage.input_tokens, final.usage.output_tokens], [words(prompt), words(echo(prompt))]);
  });

  test(`tool use round trip on ${model} (streamed call, then the result)`, async () => {
    const c = client(model, 'sdk-tools');
    const prompt = 'weather in Oslo please';
    const messages = [{ role: 'user', content: prompt }];
    const first = await c.messages.stream({ model, max_tokens: 256, messages, tools }).finalMessage();
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.ok(use, `no tool_use block in ${JSON.stringify(first.content)}`);
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { city: prompt });
    assert.equal(first.stop_reason, 'tool_use');
    messages.push(
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '2C and snowing' }] },
    );
    const second = await c.messages.create({ model, max_tokens: 256, messages, tools });
    assert.equal(second.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), echo('2C and snowing'));
    assert.equal(second.stop_reason, 'end_turn');
  });
}

test('errors are typed', async () => {
  const bad = new Anthropic({ baseURL: root, apiKey: 'gw-test-wrong-key-0000', maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: models[0], max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.AuthenticationError && err.status === 401,
  );
  await assert.rejects(
    client(models[0], 'sdk-notfound').messages.create({ model: 'no-such-model', max_tokens: 16, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.NotFoundError && err.status === 404,
  );
});
