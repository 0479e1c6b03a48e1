package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/redistest"
)

// The integration tests run a real redis-server (internal/redistest).

type redisServer = redistest.Server

func startRedis(t testing.TB, args ...string) *redisServer { return redistest.Start(t, args...) }

// client is a client of s with opts' other fields; it is closed when the
// test ends.
func serverClient(t testing.TB, s *redisServer, o Options) *Client {
	t.Helper()
	o.Addresses = []string{s.Addr()}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Close(c) })
	return c
}

// soon is a deadline for commands that should succeed.
func soon() time.Time {
	return time.Now().Add(5 * time.Second)
}

// must runs a command that should succeed.
func must(t testing.TB, c *Client, args ...string) Value {
	t.Helper()
	v, err := Do(c, soon(), args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return v
}
