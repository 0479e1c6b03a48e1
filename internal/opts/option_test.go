package opts

import (
	"strings"
	"testing"
	"time"
)

func TestErrorNamesTheOption(t *testing.T) {
	err := Error("cache.ttl", "%q is bad", "x")
	if err == nil || err.Error() != `authlayer: cache.ttl: "x" is bad` {
		t.Fatalf("got %v", err)
	}
}

func TestDuration(t *testing.T) {
	if d, err := Duration("o", " 2s "); err != nil || d != 2*time.Second {
		t.Errorf("2s: %v %v", d, err)
	}
	for _, bad := range []string{"", "2", "soon", "-1s"} {
		if _, err := Duration("a.b", bad); err == nil || !strings.Contains(err.Error(), "a.b") {
			t.Errorf("%q: %v, want an error naming a.b", bad, err)
		}
	}
	if _, err := PositiveDuration("a.b", "0s"); err == nil || !strings.Contains(err.Error(), "greater than zero") {
		t.Errorf("0s: %v", err)
	}
	if d, err := PositiveDuration("a.b", "1m"); err != nil || d != time.Minute {
		t.Errorf("1m: %v %v", d, err)
	}
}

func TestTrimAll(t *testing.T) {
	got := TrimAll([]string{" a", "", "b ", "  "})
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("got %q", got)
	}
}
