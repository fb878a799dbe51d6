package prompt

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ReadAnswer reads the gateway's answer to one call of a prompt version
// (a Chat Completions body with the HTTP status it came with) into out's
// text and token counts; an answer other than 200 is an error naming its
// status and, where the body has one, its message.
func ReadAnswer(out *Outcome, status int, body []byte) error {
	var cc struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &cc); err != nil {
		return fmt.Errorf("HTTP %d: not a chat completion", status)
	}
	if status != http.StatusOK {
		if cc.Error != nil {
			return fmt.Errorf("HTTP %d: %s", status, cc.Error.Message)
		}
		return fmt.Errorf("HTTP %d", status)
	}
	if len(cc.Choices) > 0 {
		out.Text = cc.Choices[0].Message.Content
	}
	out.InputTokens, out.OutputTokens = cc.Usage.PromptTokens, cc.Usage.CompletionTokens
	return nil
}
