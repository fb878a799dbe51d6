package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
)

// How a response body is delimited.
const (
	bodyNone       = iota // no body (HEAD, 204, 304, Content-Length: 0)
	bodyLength            // Content-Length bytes
	bodyChunked           // chunked transfer coding, then trailers
	bodyUntilClose        // until the server closes the connection
)

// Body states.
const (
	stateOpen     = iota
	stateReleased // read to the end; the connection went back (or was closed)
	stateClosed   // closed or failed before the end; the connection was closed
)

// newChunkReader decodes the chunked transfer coding from br, stopping
// after the last chunk's size line (the trailers are read by body).
func newChunkReader(br *bufio.Reader) io.Reader { return httputil.NewChunkedReader(br) }

// body is a response body read straight from its connection. Read is for
// one goroutine at a time; Close may run concurrently with Read.
type body struct {
	br        *bufio.Reader
	resp      *http.Response
	opts      *Options
	mode      int
	remaining int64     // bodyLength: bytes still to read
	chunks    io.Reader // bodyChunked

	// Set by roundTrip once the head is read.
	c    *conn
	stop func() bool // unregisters the context's close of c
	keep bool        // c may serve another request after this body
	ctx  context.Context

	state atomic.Int32
	err   error // sticky read error
}

// done reports whether there is nothing to read.
func (b *body) done() bool { return b.mode == bodyNone }

func (b *body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case stateReleased:
		return 0, io.EOF
	case stateClosed:
		if b.err != nil {
			return 0, b.err
		}
		return 0, errBodyClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch b.mode {
	case bodyNone:
		b.release()
		return 0, io.EOF
	case bodyLength:
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			b.release()
			return n, io.EOF
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	case bodyChunked:
		n, err = b.chunks.Read(p)
		if errors.Is(err, io.EOF) {
			if err = b.readTrailers(); err == nil {
				b.release()
				return n, io.EOF
			}
		}
	case bodyUntilClose:
		n, err = b.br.Read(p)
		if errors.Is(err, io.EOF) {
			b.keep = false
			b.release()
			return n, io.EOF
		}
	}
	if err != nil {
		return n, b.fail(err)
	}
	return n, nil
}

// readTrailers reads the fields after the last chunk, within the same
// bounds as the head, into resp.Trailer.
func (b *body) readTrailers() error {
	budget := b.opts.MaxHeaderBytes
	var scratch []byte
	tr := make(http.Header)
	if err := readFields(b.br, &budget, b.opts.MaxHeaderCount, &scratch, tr); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if len(tr) == 0 {
		return nil
	}
	if b.resp.Trailer == nil {
		b.resp.Trailer = tr
		return nil
	}
	for k, v := range tr {
		b.resp.Trailer[k] = v
	}
	return nil
}

// release ends a body read to the end: the connection goes back to the
// pool when it may serve another request and the context did not close it.
func (b *body) release() {
	if !b.state.CompareAndSwap(stateOpen, stateReleased) {
		return
	}
	// Bytes past the body's end (a Content-Length shorter than what was
	// sent) would be read as the next request's response: close instead.
	if b.stop() && b.keep && b.br.Buffered() == 0 {
		b.c.t.putIdle(b.c)
		return
	}
	b.c.nc.Close()
}

// fail ends a body on a read error: the connection is closed. A cancelled
// context is reported as the context's error.
func (b *body) fail(err error) error {
	if b.ctx != nil && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	b.err = err
	if b.state.CompareAndSwap(stateOpen, stateClosed) {
		b.stop()
		b.c.nc.Close()
	}
	return err
}

// Close closes the connection unless the body was read to the end.
func (b *body) Close() error {
	if b.state.CompareAndSwap(stateOpen, stateClosed) {
		b.stop()
		b.c.nc.Close()
	}
	return nil
}
