package store

import (
	"encoding/binary"
	"errors"
	"math"
)

// The histograms of a rollup row are stored in one column each, in a
// compact encoding: for each non-empty bucket, in ascending order, a
// uvarint gap (how many buckets were skipped since the one before, or
// since bucket 0 for the first) and a uvarint count. An empty histogram
// is no bytes (or NULL). A row of a real workload touches a dozen of the
// 64 buckets, so its histogram takes some 20 to 40 bytes where 64 integer
// columns took 64 values to read and sum; and rows are merged in Go while
// they stream out of the database (Hist.AddEncoded) instead of being
// summed column by column in SQL.

// errHistEncoding is returned for bytes that are not an encoded Hist.
var errHistEncoding = errors.New("analytics rollup: malformed histogram encoding")

// AppendHist appends the encoding of h to dst. Counts must not be
// negative; empty buckets take no bytes.
func AppendHist(dst []byte, h *Hist) []byte {
	next := 0 // the first bucket the next gap counts from
	for i, c := range h {
		if c <= 0 {
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(i-next))
		dst = binary.AppendUvarint(dst, uint64(c))
		next = i + 1
	}
	return dst
}

// EncodeHist returns the encoding of h, nil for an empty histogram.
func EncodeHist(h *Hist) []byte {
	return AppendHist(nil, h)
}

// AddEncoded adds the counts encoded in b (AppendHist) to h. It refuses a
// truncated varint, a bucket past the last, a zero count or one that does
// not fit an int64, and then leaves h unchanged.
func (h *Hist) AddEncoded(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	var d Hist
	next := 0
	for len(b) > 0 {
		gap, n := binary.Uvarint(b)
		if n <= 0 || gap >= uint64(HistBuckets-next) {
			return errHistEncoding
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 || c == 0 || c > math.MaxInt64 {
			return errHistEncoding
		}
		b = b[n:]
		i := next + int(gap)
		d[i] = int64(c)
		next = i + 1
	}
	h.Add(&d)
	return nil
}
