package redis

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer answers the n-th connection's commands with replies[n]
// (the last entry for every later connection), one reply per command it
// reads, and records the commands.
type fakeServer struct {
	l       net.Listener
	replies []string
	mu      sync.Mutex
	conns   int
	got     [][]string
}

func startFake(t *testing.T, replies ...string) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{l: l, replies: replies}
	go acceptFake(f)
	t.Cleanup(func() { _ = l.Close() })
	return f
}

func acceptFake(f *fakeServer) {
	for {
		nc, err := f.l.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		n := f.conns
		f.conns++
		f.mu.Unlock()
		if n >= len(f.replies) {
			n = len(f.replies) - 1
		}
		go serveFake(f, nc, f.replies[n])
	}
}

func serveFake(f *fakeServer, nc net.Conn, reply string) {
	defer nc.Close()
	rd := &reader{r: bufio.NewReader(nc)}
	for i := 0; i < 100; i++ {
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		v, err := readReply(rd)
		if err != nil {
			return
		}
		var args []string
		for _, a := range v.Array {
			args = append(args, a.Str)
		}
		f.mu.Lock()
		f.got = append(f.got, args)
		f.mu.Unlock()
		if _, err := nc.Write([]byte(reply)); err != nil {
			return
		}
	}
}

func (f *fakeServer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// TestUnreadableReplyDropsTheConnection: an oversized or malformed reply
// is a protocol error (unavailable), that connection is never used
// again, and the next command dials a new one.
func TestUnreadableReplyDropsTheConnection(t *testing.T) {
	f := startFake(t, "$99999999999\r\n", "*2\r\n:1\r\nxyz\r\n", "+OK\r\n")
	c, err := New(Options{Addresses: []string{f.l.Addr().String()}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(c)
	for i := 0; i < 2; i++ {
		_, err := Do(c, soon(), "GET", "k")
		if !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	for i := 0; i < 3; i++ {
		if v, err := Do(c, soon(), "PING"); err != nil || v.Str != "OK" {
			t.Fatalf("after the bad replies: %+v, %v", v, err)
		}
	}
	if n := f.connections(); n != 3 {
		t.Fatalf("%d connections, want one per bad reply and one reused", n)
	}
}

// TestNoPasswordInErrors: a server (or proxy) that echoes the password
// in its refusal does not get it into the error.
func TestNoPasswordInErrors(t *testing.T) {
	const password = "p4ss-w0rd-echoed"
	f := startFake(t, "-WRONGPASS bad password '"+password+"' for user app\r\n")
	c, err := New(Options{Addresses: []string{f.l.Addr().String()}, Username: "app", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(c)
	_, err = Do(c, soon(), "PING")
	if !errors.Is(err, ErrAuth) || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %q", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 || strings.Join(f.got[0], " ") != "AUTH app "+password {
		t.Fatalf("the server got %q", f.got)
	}
}
