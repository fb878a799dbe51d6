package prompt

import (
	"encoding/json"
	"testing"
)

func BenchmarkCompiledRender(b *testing.B) {
	c, err := Compile(Version{
		Model: "m",
		Messages: []Message{
			{Role: "system", Content: "You answer in {{lang}}. Be concise."},
			{Role: "user", Content: "Context:\n{{#docs}}\n- {{title}}: {{body}}\n{{/docs}}\nQuestion: {{question}}"},
		},
		Variables: json.RawMessage(`{"type":"object","required":["lang","question"],"properties":{
			"lang":{"enum":["English","French"]},
			"question":{"type":"string","maxLength":4000},
			"docs":{"type":"array","maxItems":20,"items":{"type":"object","required":["title","body"],
				"properties":{"title":{"type":"string"},"body":{"type":"string"}}}}}}`),
	})
	if err != nil {
		b.Fatal(err)
	}
	raw := json.RawMessage(`{"lang":"English","question":"What does the gateway do when a stream is cut?",
		"docs":[{"title":"Streams","body":"Failover happens before the first byte; after it, a terminal error event."},
		{"title":"Ledger","body":"Partial streams have explicit states."},
		{"title":"Budgets","body":"Reserve, then settle."}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(raw); err != nil {
			b.Fatal(err)
		}
	}
}
