package prompt_test

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/prompt"
)

func ExampleCompiled_Render() {
	c, err := prompt.Compile(prompt.Version{
		Number: 1,
		Model:  "gpt-4o",
		Messages: []prompt.Message{
			{Role: "system", Content: "You summarise text."},
			{Role: "user", Content: "Summarise: {{text}}"},
		},
		Variables: json.RawMessage(`{"type":"object","required":["text"],"additionalProperties":false,
			"properties":{"text":{"type":"string","maxLength":2000}}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msgs, err := c.Render(json.RawMessage(`{"text":"hello {{text}} world"}`))
	fmt.Println(msgs, err)
	_, err = c.Render(json.RawMessage(`{}`))
	fmt.Println(err)
	// Output:
	// [{system You summarise text.} {user Summarise: hello {{text}} world}] <nil>
	// variable /text: is required
}

func ExampleDiff() {
	a := prompt.Version{Number: 1, Model: "gpt-4o", Messages: []prompt.Message{{Role: "user", Content: "Hi {{name}}"}}}
	b := a
	b.Number = 2
	b.Messages = []prompt.Message{{Role: "user", Content: "Hello {{name}}"}}
	fmt.Print(prompt.Diff(a, b))
	// Output:
	// --- version 1
	// +++ version 2
	// @@ -1,3 +1,3 @@
	//  model: gpt-4o
	//  message 1 (user):
	// -  Hi {{name}}
	// +  Hello {{name}}
}
