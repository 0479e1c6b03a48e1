//go:build !race

package contract

// raceEnabled: the test binary was built with -race.
const raceEnabled = false
