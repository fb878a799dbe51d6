package stats

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// Assign returns the arm, an index into weights, for one unit (a user, an
// API key or a header value) of an experiment. The choice is a pure function
// of its arguments, so a unit keeps its arm across requests, processes and
// restarts for as long as the experiment's id and weights stay the same.
//
// It hashes experimentID + "\x00" + unit with SHA-256, so units are spread
// independently of how their names look ("user-1", "user-2", ...) and each
// experiment shuffles units afresh. (FNV-1a, whose top bits hardly depend
// on the last bytes of the input, fails the split tests on names like these.)
// The first 64 bits h of the digest are
// mapped onto [0, total) as (h·total) >> 64, Lemire's multiply-shift
// reduction, whose bias is below total/2^64, and the arm is the first whose
// cumulative weight exceeds that value. Weights are relative: {1, 1} and
// {50, 50} split alike. An arm of weight zero is never chosen.
//
// When weights is empty or all zero no arm can take the unit, and Assign
// returns -1. It does not fall back to an even split: traffic would then
// reach arms the operator set to zero. Callers must treat -1 as "not in the
// experiment".
func Assign(experimentID, unit string, weights []uint32) int {
	var total uint64
	for _, w := range weights {
		total += uint64(w)
	}
	if total == 0 {
		return -1
	}
	h := sha256.New()
	h.Write([]byte(experimentID))
	h.Write([]byte{0})
	h.Write([]byte(unit))
	var sum [sha256.Size]byte
	x, _ := bits.Mul64(binary.BigEndian.Uint64(h.Sum(sum[:0])), total)
	var cum uint64
	for i, w := range weights {
		cum += uint64(w)
		if x < cum {
			return i
		}
	}
	return len(weights) - 1 // unreachable: x < total = cum at the end
}
