module github.com/sluicehq/sluice/e2e

go 1.26.8

require (
	github.com/openai/openai-go/v3 v3.98.0
	github.com/sluicehq/sluice v0.0.0-00010101000000-000000000000
)

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/tidwall/gjson v1.20.2 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	github.com/tidwall/sjson v1.2.9 // indirect
)

replace github.com/sluicehq/sluice => ../
