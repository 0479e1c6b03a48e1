// Package opts holds what every compile step shares: the error that
// names an option, and the readers of duration and list options. One
// wording for every option, whichever package checks it.
package opts

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error is a configuration error naming the option, as New returns it:
// "authlayer: <option>: <message>".
func Error(option, format string, args ...interface{}) error {
	return errors.New("authlayer: " + option + ": " + fmt.Sprintf(format, args...))
}

// Duration reads a duration option ("2s", "1h"; Traefik cannot decode
// such a string into a time.Duration, so options are strings). Negative
// durations are refused.
func Duration(option, v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, Error(option, "%q is not a duration such as \"2s\" or \"1h\"", v)
	}
	if d < 0 {
		return 0, Error(option, "must not be negative")
	}
	return d, nil
}

// PositiveDuration is Duration, refusing zero too.
func PositiveDuration(option, v string) (time.Duration, error) {
	d, err := Duration(option, v)
	if err == nil && d == 0 {
		return 0, Error(option, "must be greater than zero")
	}
	return d, err
}

// TrimAll trims each entry of a list option and drops the empty ones (a
// label "a, b," is three entries, one empty).
func TrimAll(list []string) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
