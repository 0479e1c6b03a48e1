package redisrun

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// asDefault sends one command as Redis's default user (no AUTH), as the
// plugin does without redis.username.
func asDefault(t *testing.T, s *Server, args ...string) Value {
	t.Helper()
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(context.Background(), "tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	cn := &conn{c: c, rd: bufio.NewReader(c)}
	v, err := cn.do(args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return v
}

func TestServerFaults(t *testing.T) {
	s := Start(t)
	if v := asDefault(t, s, "SET", "k", "v", "PX", "60000"); v.Str != "OK" {
		t.Fatalf("SET: %+v", v)
	}
	if v := asDefault(t, s, "HSET", "h", "f", "x"); v.Err != "" {
		t.Fatalf("HSET: %+v", v)
	}
	dump := s.Dump(t)
	if len(dump) != 2 || dump[0].Key != "h" || dump[0].Type != "hash" || strings.Join(dump[0].Values, ",") != "f,x" ||
		dump[1].Key != "k" || dump[1].Values[0] != "v" || dump[1].PTTL <= 0 || dump[0].PTTL != -1 {
		t.Fatalf("dump: %+v", dump)
	}

	s.FailWrites(t)
	if v := asDefault(t, s, "SET", "k2", "v"); !strings.HasPrefix(v.Err, "OOM") {
		t.Errorf("SET with FailWrites: %+v, want an OOM error", v)
	}
	if v := asDefault(t, s, "GET", "k"); v.Str != "v" {
		t.Errorf("GET with FailWrites: %+v, want v", v)
	}
	s.AllowWrites(t)
	if v := asDefault(t, s, "SET", "k2", "v"); v.Str != "OK" {
		t.Errorf("SET after AllowWrites: %+v", v)
	}

	s.DenyAll(t)
	if v := asDefault(t, s, "GET", "k"); !strings.HasPrefix(v.Err, "NOPERM") {
		t.Errorf("GET with DenyAll: %+v, want NOPERM", v)
	}
	if len(s.Dump(t)) != 3 {
		t.Errorf("the admin connection cannot dump with DenyAll")
	}
	s.AllowAll(t)
	if v := asDefault(t, s, "GET", "k"); v.Str != "v" {
		t.Errorf("GET after AllowAll: %+v", v)
	}

	mon := s.Monitor(t)
	asDefault(t, s, "SET", "monitored", "value-1")
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(mon.Text(), `"value-1"`) {
		t.Errorf("monitor: %q, want the SET", mon.Text())
	}

	s.Pause(t)
	start := time.Now()
	if _, err := s.Do("PING"); err == nil {
		t.Errorf("PING answered while paused")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("PING while paused took %v", d)
	}
	s.Resume(t)
	if v, err := s.Do("PING"); err != nil || v.Str != "PONG" {
		t.Errorf("PING after Resume: %+v %v", v, err)
	}

	s.Kill(t)
	mon.Stop()
	if _, err := s.Do("PING"); err == nil {
		t.Errorf("PING answered after Kill")
	}
	s.Restart(t)
	if n := len(s.Dump(t)); n != 0 {
		t.Errorf("keys after Restart: %d, want an empty server", n)
	}
	s.Stop(t)
	if s.Running() {
		t.Errorf("running after Stop")
	}
	s.Restart(t)
	if v := asDefault(t, s, "PING"); v.Str != "PONG" {
		t.Errorf("PING after Stop and Restart: %+v", v)
	}
}
