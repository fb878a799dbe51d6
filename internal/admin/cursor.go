package admin

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/store"
)

// Lists that can be long (the ledger, the audit log) are keyset-paginated:
// an answer with more rows after it carries next_cursor, an opaque string
// that the next request passes as cursor to get the rows that follow,
// newest first. A cursor names the last row shown, so rows written in
// between never shift a page and no row is shown twice.

// page is the shape of a paginated list answer.
type page[T any] struct {
	Object     string `json:"object" enum:"list"`
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty" description:"Pass as cursor for the rows that follow; absent on the last page."`
}

const (
	requestCursorTag = "r1"
	auditCursorTag   = "a1"
)

var errInvalidCursor = &httpError{http.StatusBadRequest, "invalid_cursor", "cursor is not one this list answered; start again without it."}

func encodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, "\n")))
}

// decodeCursor returns the n fields after tag of cursor s.
func decodeCursor(s, tag string, n int) ([]string, error) {
	if len(s) > 512 {
		return nil, errInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errInvalidCursor
	}
	parts := strings.Split(string(b), "\n")
	if len(parts) != n+1 || parts[0] != tag {
		return nil, errInvalidCursor
	}
	for _, p := range parts[1:] {
		if p == "" {
			return nil, errInvalidCursor
		}
	}
	return parts[1:], nil
}

func requestCursor(e store.RequestCursor) string {
	return encodeCursor(requestCursorTag, strconv.FormatInt(e.TS, 10), e.RequestID)
}

// parseRequestCursor reads the cursor query parameter of the ledger
// listing: nil without one.
func parseRequestCursor(s string) (*store.RequestCursor, error) {
	if s == "" {
		return nil, nil
	}
	parts, err := decodeCursor(s, requestCursorTag, 2)
	if err != nil {
		return nil, err
	}
	ts, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || ts < 0 {
		return nil, errInvalidCursor
	}
	return &store.RequestCursor{TS: ts, RequestID: parts[1]}, nil
}

func auditCursor(id string) string { return encodeCursor(auditCursorTag, id) }

// parseAuditCursor reads the cursor query parameter of the audit log
// listing: the id to continue below, "" without one.
func parseAuditCursor(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	parts, err := decodeCursor(s, auditCursorTag, 1)
	if err != nil {
		return "", err
	}
	return parts[0], nil
}
