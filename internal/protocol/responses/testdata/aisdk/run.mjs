// Drives the Vercel AI SDK (ai@6, @ai-sdk/openai@3) against a Sluice
// Responses endpoint at process.env.BASE_URL and prints one JSON line per
// scenario. Run by TestAISDK when SLUICE_AISDK_DIR names a directory with
// those packages installed (npm install ai@6 @ai-sdk/openai@3).
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, generateObject, tool, stepCountIs, jsonSchema } from 'ai';

const openai = createOpenAI({ baseURL: process.env.BASE_URL, apiKey: 'sk-test' });
const out = (name, v) => console.log(JSON.stringify({ name, ...v }));
const err = (e) => ({ error: String(e && (e.responseBody || e.message || e)) });

const weather = tool({
  description: 'Get the weather',
  inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false }),
  execute: async ({ city }) => `18C in ${city}`,
});

try {
  const r = await generateText({ model: openai('gpt-4.1'), system: 'Be brief.', prompt: 'hello there', maxOutputTokens: 100 });
  out('generate', { text: r.text, finishReason: r.finishReason, usage: r.usage });
} catch (e) { out('generate', err(e)); }

try {
  const r = streamText({ model: openai('gpt-4.1'), prompt: 'stream me' });
  let text = '';
  for await (const d of r.textStream) text += d;
  out('stream', { text, finishReason: await r.finishReason, usage: await r.usage });
} catch (e) { out('stream', err(e)); }

for (const stream of [false, true]) {
  const name = stream ? 'tools-stream' : 'tools';
  try {
    const opts = { model: openai('gpt-4.1'), prompt: 'Weather in Paris?', tools: { weather }, stopWhen: stepCountIs(3),
      providerOptions: { openai: { store: false } } };
    const r = stream ? streamText(opts) : await generateText(opts);
    const steps = await r.steps;
    out(name, { text: await r.text, steps: steps.length, toolCalls: steps.flatMap(s => s.toolCalls.map(c => [c.toolName, c.input])),
      toolResults: steps.flatMap(s => s.toolResults.map(c => c.output)), finishReason: await r.finishReason });
  } catch (e) { out(name, err(e)); }
}

try {
  const r = await generateText({ model: openai('gpt-4.1'), prompt: 'Weather in Paris?', tools: { weather }, stopWhen: stepCountIs(3) });
  out('tools-default-store', { text: r.text });
} catch (e) { out('tools-default-store', err(e)); }

try {
  const r = await generateObject({ model: openai('gpt-4.1'), prompt: 'A cat',
    schema: jsonSchema({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false }) });
  out('object', { object: r.object });
} catch (e) { out('object', err(e)); }

try {
  const r = streamText({ model: openai('o4-mini'), prompt: 'think', providerOptions: { openai: { reasoningEffort: 'high', store: false, reasoningSummary: 'auto' } } });
  let reasoning = '', text = '', meta = null;
  for await (const p of r.fullStream) {
    if (p.type === 'reasoning-delta') reasoning += p.text;
    if (p.type === 'text-delta') text += p.text;
    if (p.type === 'reasoning-end') meta = p.providerMetadata;
  }
  out('reasoning', { reasoning, text, encrypted: meta?.openai?.reasoningEncryptedContent ?? null, usage: await r.usage });
} catch (e) { out('reasoning', err(e)); }

try {
  const r = streamText({ model: openai('gpt-4.1'), prompt: 'fail please' });
  let text = '';
  for await (const d of r.textStream) text += d;
  out('fail', { text, finishReason: await r.finishReason });
} catch (e) { out('fail', err(e)); }
