// End-to-end tests of Sluice with the Vercel AI SDK (ai@6 with @ai-sdk/openai@3 and
// @ai-sdk/anthropic@3). Run by e2e/node_test.go against the protocols gateway; by hand:
//   SLUICE_ROOT_URL=http://127.0.0.1:8080 SLUICE_API_KEY=... node --test e2e/node/aisdk.test.mjs
//
// createOpenAI(...)(model) calls the Responses API (POST /v1/responses) and
// createOpenAI(...).chat(model) Chat Completions; both run against SLUICE_OPENAI_MODEL
// (an OpenAI upstream: passed through) and SLUICE_ANTHROPIC_MODEL (an Anthropic
// upstream: translated). createAnthropic(...) speaks Messages to SLUICE_OPENAI_MODEL
// (translated). Every request carries X-E2e-Marker:
// <SLUICE_E2E_MARKER>.<api>.<model>.<case>, which the Go side uses to check where it
// went.
//
// Multi-step (tool) calls on the Responses API set providerOptions.openai.store to
// false: otherwise the SDK sends {"type": "item_reference"} items for the earlier
// assistant turn, which only a server that stored that turn can resolve, and Sluice
// stores nothing (it answers 400 to item_reference when it translates).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, tool, jsonSchema, stepCountIs } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';

const root = process.env.SLUICE_ROOT_URL;
const apiKey = process.env.SLUICE_API_KEY;
const marker = process.env.SLUICE_E2E_MARKER ?? 'node';
const openaiModel = process.env.SLUICE_OPENAI_MODEL ?? 'm-openai';
const anthropicModel = process.env.SLUICE_ANTHROPIC_MODEL ?? 'm-anthropic';
if (!root || !apiKey) {
  throw new Error('set SLUICE_ROOT_URL and SLUICE_API_KEY');
}

// Every upstream fake answers "Echo: <the last user text>" and counts one token a word.
const echo = (s) => `Echo: ${s}`;
const words = (s) => s.split(/\s+/).filter(Boolean).length;

const headers = (api, model, name) => ({ 'X-E2e-Marker': `${marker}.${api}.${model}.${name}` });

// The language models under test: api names the wire protocol the SDK speaks.
const variants = [];
for (const model of [openaiModel, anthropicModel]) {
  variants.push({
    api: 'responses',
    model,
    lm: (name) => createOpenAI({ baseURL: `${root}/v1`, apiKey, headers: headers('responses', model, name) })(model),
    // See the note at the top: Sluice keeps no conversation state.
    providerOptions: { openai: { store: false } },
  });
  variants.push({
    api: 'chat',
    model,
    lm: (name) => createOpenAI({ baseURL: `${root}/v1`, apiKey, headers: headers('chat', model, name) }).chat(model),
    providerOptions: undefined,
  });
}
variants.push({
  api: 'anthropic',
  model: openaiModel,
  lm: (name) => createAnthropic({ baseURL: `${root}/v1`, apiKey, headers: headers('anthropic', openaiModel, name) })(openaiModel),
  providerOptions: undefined,
});

const weather = tool({
  description: 'Weather in a city',
  inputSchema: jsonSchema({
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  }),
  execute: async ({ city }) => `18C in ${city}`,
});

for (const v of variants) {
  const where = `${v.api} on ${v.model}`;

  test(`generateText, ${where}`, async () => {
    const prompt = `hello from the ai sdk ${v.api}`;
    const res = await generateText({ model: v.lm('generate'), prompt, maxOutputTokens: 256, maxRetries: 0 });
    assert.equal(res.text, echo(prompt));
    assert.equal(res.finishReason, 'stop');
    assert.deepEqual([res.usage.inputTokens, res.usage.outputTokens], [words(prompt), words(echo(prompt))]);
  });

  test(`streamText, ${where}`, async () => {
    const prompt = `stream from the ai sdk ${v.api}`;
    const res = streamText({
      model: v.lm('stream'),
      prompt,
      maxOutputTokens: 256,
      maxRetries: 0,
      onError: ({ error }) => {
        throw error;
      },
    });
    let deltas = 0;
    let text = '';
    for await (const d of res.textStream) {
      deltas++;
      text += d;
    }
    assert.equal(text, echo(prompt));
    assert.ok(deltas >= 2, `${deltas} text deltas`);
    assert.equal(await res.finishReason, 'stop');
    const usage = await res.usage;
    assert.deepEqual([usage.inputTokens, usage.outputTokens], [words(prompt), words(echo(prompt))]);
  });

  test(`generateText with a tool (two steps), ${where}`, async () => {
    const prompt = 'weather in Lisbon';
    const res = await generateText({
      model: v.lm('tools'),
      prompt,
      tools: { get_weather: weather },
      stopWhen: stepCountIs(3),
      providerOptions: v.providerOptions,
      maxOutputTokens: 256,
      maxRetries: 0,
    });
    assert.equal(res.steps.length, 2, `steps: ${JSON.stringify(res.steps.map((s) => s.finishReason))}`);
    const [call] = res.steps[0].toolCalls;
    assert.equal(call.toolName, 'get_weather');
    assert.deepEqual(call.input, { city: prompt });
    assert.equal(res.steps[0].finishReason, 'tool-calls');
    assert.equal(res.steps[0].toolResults[0].output, `18C in ${prompt}`);
    assert.ok(res.text.startsWith('Echo:') && res.text.includes(`18C in ${prompt}`), `final text ${JSON.stringify(res.text)}`);
    assert.equal(res.finishReason, 'stop');
    assert.ok(res.totalUsage.inputTokens > 0 && res.totalUsage.outputTokens > 0, JSON.stringify(res.totalUsage));
  });

  test(`streamText with a tool (two steps), ${where}`, async () => {
    const prompt = 'weather in Porto';
    const res = streamText({
      model: v.lm('tools-stream'),
      prompt,
      tools: { get_weather: weather },
      stopWhen: stepCountIs(3),
      providerOptions: v.providerOptions,
      maxOutputTokens: 256,
      maxRetries: 0,
      onError: ({ error }) => {
        throw error;
      },
    });
    const parts = [];
    for await (const p of res.fullStream) {
      if (p.type === 'error') throw p.error;
      parts.push(p.type);
    }
    const steps = await res.steps;
    assert.equal(steps.length, 2, `parts: ${parts}`);
    assert.ok(parts.includes('tool-call') && parts.includes('tool-result'), `parts: ${parts}`);
    assert.deepEqual(steps[0].toolCalls[0].input, { city: prompt });
    const text = await res.text;
    assert.ok(text.startsWith('Echo:') && text.includes(`18C in ${prompt}`), `final text ${JSON.stringify(text)}`);
    assert.equal(await res.finishReason, 'stop');
  });
}
