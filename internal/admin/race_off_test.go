//go:build !race

package admin_test

// raceDetector reports a test binary built with -race.
const raceDetector = false
