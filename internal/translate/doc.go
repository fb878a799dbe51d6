// Package translate holds the pair-level golden tests of Sluice's protocol
// translation: for every pair of a client protocol (OpenAI Chat, OpenAI
// Responses, Anthropic Messages, Gemini) and an upstream protocol (OpenAI,
// Anthropic, Gemini, Bedrock Converse) that is translated rather than passed
// through, a table of cases runs the codecs as the data plane composes them
// (internal/proxy/forward.go): client DecodeRequest, upstream EncodeRequest,
// upstream DecodeResponse or StreamReader, client EncodeResponse or
// StreamWriter.
//
// Each case is testdata/<client>_<upstream>/<case>.txtar. Its hand-written
// sections are:
//
//   - client_request.json: what the client sends;
//   - upstream_response.json with an optional upstream_status (an error
//     answer), upstream_stream.txt (SSE as the provider sends it), or for
//     Bedrock upstream_events.txt (one event-stream message a line);
//   - want_error.json: for a request that cannot be translated, the status
//     and the field the 400 names;
//   - known_bug: a codec bug the case shows (see below).
//
// Its generated sections are upstream_request.json, upstream_stream.hex
// (Bedrock's frames, which the reader is fed), client_status, and
// client_response.json or client_stream.txt. "go test -update" rewrites
// them; without it they must match byte for byte. JSON is indented; in
// stream sections a carriage return is written as "␍" so that it stays
// visible. Ids that codecs make up at random are normalised.
//
// Beside the goldens, semantic checks compare what the client receives with
// what the upstream sent (text, thinking and signatures, tool calls, stop
// reason, usage and metering, errors) and the upstream request with the
// client's, read by small readers of each wire format that are independent
// of the codecs, so that an -update cannot hide a lost field. A streamed
// answer must give the same client output fed whole, byte by byte and cut
// at every byte boundary. A case whose codec bug is pinned in a known_bug
// section (first line: a piece of the failure message) logs that failure
// instead of failing, and fails once the bug is gone. FuzzPairs runs every
// client request through every pair.
//
// The package has no non-test code.
package translate
