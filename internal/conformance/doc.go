// Package conformance holds the protocol conformance matrix: a test that
// runs every client protocol against every provider type (through the
// real gateway, against fake providers that speak each wire format) for
// plain, streamed, tool, image and usage cases, and writes the result to
// docs/compatibility.md. The package has no non-test code.
package conformance
