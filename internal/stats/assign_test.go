package stats

import (
	"fmt"
	"math"
	"testing"
)

// TestAssignSticky asks for the same units' arms 10,000 times each and
// expects the same answer every time.
func TestAssignSticky(t *testing.T) {
	weights := []uint32{33, 33, 34}
	for _, unit := range []string{"user-1", "user-42", "key_7f3a", ""} {
		first := Assign("exp-sticky", unit, weights)
		for i := range 10000 {
			if got := Assign("exp-sticky", unit, weights); got != first {
				t.Fatalf("unit %q: call %d gave arm %d, first call gave %d", unit, i, got, first)
			}
		}
	}
}

// TestAssignSplit assigns 10,000 units per split and checks that each arm's
// share is within one percentage point of its weight's share. Hash
// assignment is a binomial draw per unit, so the bound is about two standard
// deviations for 50/50 (sd 0.5 points) and 33/33/34 (0.47), and 3.3 for
// 90/10 (0.3): an arbitrary experiment id misses it now and then by chance
// (measured: 4 ids in 200 at 50/50, 14 in 200 at 33/33/34).
// TestAssignCalibration checks that the misses are no more than chance.
func TestAssignSplit(t *testing.T) {
	const units = 10000
	tests := []struct {
		name    string
		weights []uint32
	}{
		{"50/50", []uint32{50, 50}},
		{"90/10", []uint32{90, 10}},
		{"10/90", []uint32{10, 90}},
		{"33/33/34", []uint32{33, 33, 34}},
		{"1/1/1/1 with zeros", []uint32{0, 1, 1, 0, 1, 1}},
		{"large weights", []uint32{math.MaxUint32, math.MaxUint32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var total float64
			for _, w := range tc.weights {
				total += float64(w)
			}
			counts := make([]int, len(tc.weights))
			for i := range units {
				arm := Assign("experiment", fmt.Sprintf("user-%d", i), tc.weights)
				if arm < 0 || arm >= len(tc.weights) {
					t.Fatalf("arm %d out of range", arm)
				}
				counts[arm]++
			}
			for arm, w := range tc.weights {
				got := float64(counts[arm]) / units
				want := float64(w) / total
				if w == 0 && counts[arm] != 0 {
					t.Errorf("arm %d has weight 0 but got %d units", arm, counts[arm])
				}
				if math.Abs(got-want) > 0.01 {
					t.Errorf("arm %d: share %.4f, want %.4f ± 0.01 (counts %v)", arm, got, want, counts)
				}
			}
		})
	}
}

// TestAssignIndependence checks that a new experiment id reshuffles units:
// in a 50/50 split about half the units change arm between two experiments,
// as two independent fair coins would (sd of the share is 0.005 at 10,000
// units; the bound is six sd).
func TestAssignIndependence(t *testing.T) {
	const units = 10000
	weights := []uint32{1, 1}
	changed := 0
	for i := range units {
		u := fmt.Sprintf("user-%d", i)
		if Assign("exp-a", u, weights) != Assign("exp-b", u, weights) {
			changed++
		}
	}
	if share := float64(changed) / units; math.Abs(share-0.5) > 0.03 {
		t.Errorf("%.4f of units changed arm, want about 0.5", share)
	}
	// The separator keeps ("ab", "c") and ("a", "bc") apart.
	differ := 0
	for i := range 64 {
		w := []uint32{1, 1}
		s := fmt.Sprint(i)
		if Assign("exp"+s, "u", w) != Assign("exp", s+"u", w) {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("experiment id and unit are concatenated without a separator")
	}
}

// TestAssignNoArm covers weights that leave no arm to choose.
func TestAssignNoArm(t *testing.T) {
	for _, w := range [][]uint32{nil, {}, {0}, {0, 0, 0}} {
		if got := Assign("exp", "user-1", w); got != -1 {
			t.Errorf("Assign with weights %v = %d, want -1", w, got)
		}
	}
	// A single positive arm takes every unit, wherever it sits.
	for i := range 1000 {
		if got := Assign("exp", fmt.Sprint(i), []uint32{0, 0, 7, 0}); got != 2 {
			t.Fatalf("unit %d went to arm %d, want 2", i, got)
		}
	}
}

// TestAssignCalibration splits 10,000 units 50/50 in each of 50 experiments
// and compares the spread of arm 0's share with the binomial's: mean 0.5,
// variance 0.25/10,000. A biased or lumpy reduction from hash to arm shifts
// the mean or inflates the variance.
func TestAssignCalibration(t *testing.T) {
	const units, experiments = 10000, 50
	weights := []uint32{1, 1}
	var sum, sumSq float64
	for e := range experiments {
		n := 0
		for i := range units {
			if Assign(fmt.Sprintf("exp-%d", e), fmt.Sprintf("user-%d", i), weights) == 0 {
				n++
			}
		}
		d := float64(n)/units - 0.5
		sum += d
		sumSq += d * d
	}
	// The mean deviation has sd 0.005/sqrt(50) = 0.0007; allow four.
	if mean := sum / experiments; math.Abs(mean) > 0.0028 {
		t.Errorf("mean share of arm 0 is off by %.4f", mean)
	}
	// sumSq/(experiments·0.25/units) is chi-square on 50 df over 50:
	// sd 0.2; allow about 2.5 either side.
	if ratio := sumSq / experiments / (0.25 / units); ratio < 0.5 || ratio > 1.6 {
		t.Errorf("variance of the share is %.2f times the binomial's", ratio)
	}
}
