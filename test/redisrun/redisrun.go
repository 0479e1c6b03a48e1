// Package redisrun runs a real redis-server (Debian's package) for the
// cluster-mode tests: one server on a free loopback port, in a temporary
// directory, with nothing saved (--save "" --appendonly no), killed when
// the test ends. Faults are real: Kill (SIGKILL), Stop (SHUTDOWN NOSAVE),
// Restart (the same port, empty), Pause and Resume (SIGSTOP, SIGCONT),
// and two ways of answering errors:
//
//   - FailWrites sets maxmemory to 1 byte with maxmemory-policy
//     noeviction: every command that may grow memory (SET, INCR, EVAL of a
//     script that writes, ...) answers "-OOM command not allowed when used
//     memory > 'maxmemory'", while reads, DEL, PEXPIRE, PUBLISH and
//     SUBSCRIBE still work (a full Redis). AllowWrites sets maxmemory back
//     to 0 (no limit).
//   - DenyAll removes every command permission of the default user (ACL
//     SETUSER default -@all), which the plugin uses: every command of it
//     answers "-NOPERM", on its open connections too; a subscription
//     already open stays subscribed. AllowAll gives them back. The test's
//     own connections (Do, Dump, Monitor) authenticate as an admin user
//     the server is started with, so they keep working.
//
// Do sends one command over a fresh connection (a minimal RESP2 client),
// Dump reads every key with its type, value and TTL, and Monitor records
// every command the server receives (MONITOR).
//
// The binary is $REDIS_SERVER, /usr/bin/redis-server, or redis-server on
// PATH. Without one the test is skipped, or fails when
// AUTHLAYER_REQUIRE_REDIS=1.
package redisrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/authlayer/authlayer/test/testkit"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables.
const (
	// EnvBin names the redis-server binary to use.
	EnvBin = "REDIS_SERVER"
	// EnvRequire set to 1 turns "no binary" from a skip into a failure.
	EnvRequire = "AUTHLAYER_REQUIRE_REDIS"
)

// The admin user the test's own connections authenticate as.
const (
	adminUser = "redisrun-admin"
	adminPass = "redisrun-admin-password"
)

// Bounds.
const (
	startWait   = 5 * time.Second
	cmdTimeout  = 3 * time.Second
	maxReply    = 64 << 20
	maxMonitor  = 64 << 20
	startTries  = 3
	stopTimeout = 5 * time.Second
)

// Binary returns the redis-server binary, or "" and why there is none.
func Binary() (string, string) {
	candidates := []string{os.Getenv(EnvBin), "/usr/bin/redis-server"}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "redis-server"))
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		//nolint:gosec // G703: the binary the developer named, or one on PATH
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c, ""
		}
	}
	return "", "redis-server not found ($" + EnvBin + ", /usr/bin/redis-server, PATH): install Debian's redis-server package"
}

// Need returns the binary, or skips the test (fails it when
// AUTHLAYER_REQUIRE_REDIS=1).
func Need(t testing.TB) string {
	t.Helper()
	return testkit.Need(t, EnvRequire, Binary)
}

// Server is one redis-server the test started.
type Server struct {
	bin  string
	dir  string
	port int

	mu     sync.Mutex // guards cmd, exited, paused, starts
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	starts int
}

// Start starts redis-server on a free loopback port and returns once it
// answers PING. It is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Need(t)
	s := &Server{bin: bin, dir: t.TempDir()}
	var err error
	for attempt := 0; attempt < startTries; attempt++ {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			t.Cleanup(s.kill)
			return s
		}
	}
	t.Fatalf("redisrun: redis-server did not start: %v", err)
	return nil
}

func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Dir is the server's working directory (redis.log is there).
func (s *Server) Dir() string { return s.dir }

// Log returns the end of the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--user", adminUser, "on", ">" + adminPass, "~*", "&*", "+@all",
	}
	//nolint:gosec // G204: the redis-server binary the developer chose
	cmd := exec.CommandContext(context.Background(), s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.paused = cmd, exited, false
	s.starts++
	s.mu.Unlock()
	deadline := time.Now().Add(startWait)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start; log:\n%s", s.Log())
		default:
		}
		if v, err := s.Do("PING"); err == nil && v.Str == "PONG" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("no PONG on %s within %v; log:\n%s", s.Addr(), startWait, s.Log())
}

// PID is the running process's id, 0 when none runs.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether a server process is alive (paused counts).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL (which ends a stopped process too) and waits.
func (s *Server) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.paused = nil, false
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(stopTimeout):
	}
}

// Kill ends the server at once (SIGKILL): connections are reset, nothing
// is saved.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.PID() == 0 {
		t.Fatal("redisrun: Kill: no server running")
	}
	s.kill()
}

// Stop shuts the server down cleanly (SHUTDOWN NOSAVE) and waits for the
// process to exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	if _, err := s.Do("SHUTDOWN", "NOSAVE"); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("redisrun: SHUTDOWN NOSAVE: %v (killing)", err)
	}
	select {
	case <-exited:
		s.mu.Lock()
		s.cmd = nil
		s.mu.Unlock()
	case <-time.After(stopTimeout):
		s.kill()
	}
}

// Restart starts the server again on the same port, empty. The previous
// process must have ended (Kill or Stop).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.PID() != 0 && s.Running() {
		t.Fatal("redisrun: Restart: the server is still running (Kill or Stop it first)")
	}
	var err error
	for attempt := 0; attempt < startTries; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("redisrun: redis-server did not restart on %s: %v", s.Addr(), err)
}

// Pause stops the process (SIGSTOP): connections stay open, nothing is
// answered, new connections are accepted by the kernel and never served.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGSTOP)
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
}

// Resume continues a paused process (SIGCONT); it then answers what was
// sent meanwhile.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
}

func (s *Server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		t.Fatalf("redisrun: %v: no server running", sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redisrun: %v: %v", sig, err)
	}
}

// FailWrites makes every command that may use memory answer an OOM error
// (maxmemory 1 byte, maxmemory-policy noeviction); reads, DEL, PEXPIRE,
// PUBLISH and SUBSCRIBE still work.
func (s *Server) FailWrites(t testing.TB) {
	t.Helper()
	s.must(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	s.must(t, "CONFIG", "SET", "maxmemory", "1")
}

// AllowWrites lifts FailWrites (maxmemory 0: no limit).
func (s *Server) AllowWrites(t testing.TB) {
	t.Helper()
	s.must(t, "CONFIG", "SET", "maxmemory", "0")
}

// DenyAll makes every command of the default user answer NOPERM (its open
// connections included); the admin connections of this package keep
// working.
func (s *Server) DenyAll(t testing.TB) {
	t.Helper()
	s.must(t, "ACL", "SETUSER", "default", "-@all")
}

// AllowAll gives the default user every command back.
func (s *Server) AllowAll(t testing.TB) {
	t.Helper()
	s.must(t, "ACL", "SETUSER", "default", "+@all")
}

func (s *Server) must(t testing.TB, args ...string) Value {
	t.Helper()
	v, err := s.Do(args...)
	if err == nil && v.Err != "" {
		err = errors.New(v.Err)
	}
	if err != nil {
		t.Fatalf("redisrun: %s: %v", strings.Join(args, " "), err)
	}
	return v
}

// Value is one RESP2 reply.
type Value struct {
	// Err is the text of an error reply ("" otherwise).
	Err string
	// Str is a simple or bulk string (and an integer's decimal text).
	Str string
	// Int is an integer reply.
	Int int64
	// Nil is a null bulk string or array.
	Nil bool
	// Array holds an array's elements (nil for other kinds).
	Array []Value
	// IsArray says the reply was an array.
	IsArray bool
}

// conn is one authenticated admin connection.
type conn struct {
	c  net.Conn
	rd *bufio.Reader
}

func (s *Server) dial(timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(context.Background(), "tcp", s.Addr())
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, rd: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	v, err := cn.do("AUTH", adminUser, adminPass)
	if err == nil && v.Err != "" {
		err = errors.New("AUTH: " + v.Err)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return cn, nil
}

// Do sends one command on a fresh admin connection (bounded by 3 s) and
// returns its reply; an error reply is Value.Err, not an error.
func (s *Server) Do(args ...string) (Value, error) {
	cn, err := s.dial(cmdTimeout)
	if err != nil {
		return Value{}, err
	}
	defer cn.c.Close()
	_ = cn.c.SetDeadline(time.Now().Add(cmdTimeout))
	return cn.do(args...)
}

func (cn *conn) do(args ...string) (Value, error) {
	if err := cn.send(args...); err != nil {
		return Value{}, err
	}
	return readValue(cn.rd, 0)
}

func (cn *conn) send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(cn.c, b.String())
	return err
}

func readLine(rd *bufio.Reader) (string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("redisrun: line without CRLF: %q", line)
	}
	return line[:len(line)-2], nil
}

func readValue(rd *bufio.Reader, depth int) (Value, error) {
	if depth > 8 {
		return Value{}, errors.New("redisrun: reply nested too deep")
	}
	line, err := readLine(rd)
	if err != nil {
		return Value{}, err
	}
	if line == "" {
		return Value{}, errors.New("redisrun: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return Value{Str: body}, nil
	case '-':
		return Value{Err: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		return Value{Int: n, Str: body}, err
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxReply {
			return Value{}, fmt.Errorf("redisrun: bad bulk length %q", body)
		}
		if n == -1 {
			return Value{Nil: true}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return Value{}, err
		}
		return Value{Str: string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<20 {
			return Value{}, fmt.Errorf("redisrun: bad array length %q", body)
		}
		if n == -1 {
			return Value{Nil: true, IsArray: true}, nil
		}
		out := Value{IsArray: true, Array: make([]Value, 0, n)}
		for i := 0; i < n; i++ {
			v, err := readValue(rd, depth+1)
			if err != nil {
				return Value{}, err
			}
			out.Array = append(out.Array, v)
		}
		return out, nil
	}
	return Value{}, fmt.Errorf("redisrun: unknown reply type %q", line)
}

// Strings flattens a reply into its strings (elements of arrays, in
// order).
func (v Value) Strings() []string {
	if !v.IsArray {
		if v.Nil {
			return nil
		}
		return []string{v.Str}
	}
	var out []string
	for _, e := range v.Array {
		out = append(out, e.Strings()...)
	}
	return out
}

// Entry is one key of a Dump.
type Entry struct {
	Key  string
	Type string // string, hash, list, set, zset, stream
	// Values are the value's strings: a string's value, a hash's fields
	// and values, a list's, set's or zset's members (and scores), a
	// stream's ids, fields and values.
	Values []string
	// PTTL is the key's remaining time to live in milliseconds, -1 for
	// none (-2 when it expired while being read).
	PTTL int64
}

// Dump reads every key of every database the server holds (SCAN), with
// its type, value and TTL, sorted by database and key. Keys of database
// n > 0 are named "<n>/<key>".
func (s *Server) Dump(t testing.TB) []Entry {
	t.Helper()
	cn, err := s.dial(cmdTimeout)
	if err != nil {
		t.Fatalf("redisrun: Dump: %v", err)
	}
	defer cn.c.Close()
	var out []Entry
	call := func(args ...string) Value {
		_ = cn.c.SetDeadline(time.Now().Add(cmdTimeout))
		v, err := cn.do(args...)
		if err == nil && v.Err != "" {
			err = errors.New(v.Err)
		}
		if err != nil {
			t.Fatalf("redisrun: Dump: %s: %v", strings.Join(args, " "), err)
		}
		return v
	}
	dbs := 16
	if v := call("CONFIG", "GET", "databases"); len(v.Array) == 2 {
		if n, err := strconv.Atoi(v.Array[1].Str); err == nil && n > 0 && n <= 1024 {
			dbs = n
		}
	}
	for db := 0; db < dbs; db++ {
		call("SELECT", strconv.Itoa(db))
		seen := map[string]bool{}
		cursor := "0"
		for i := 0; i < 100000; i++ {
			v := call("SCAN", cursor, "COUNT", "1000")
			if len(v.Array) != 2 {
				t.Fatalf("redisrun: Dump: SCAN reply %+v", v)
			}
			for _, k := range v.Array[1].Strings() {
				seen[k] = true
			}
			cursor = v.Array[0].Str
			if cursor == "0" {
				break
			}
		}
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := Entry{Key: k, Type: call("TYPE", k).Str}
			switch e.Type {
			case "none":
				continue // expired meanwhile
			case "string":
				e.Values = call("GET", k).Strings()
			case "hash":
				e.Values = call("HGETALL", k).Strings()
			case "list":
				e.Values = call("LRANGE", k, "0", "-1").Strings()
			case "set":
				e.Values = call("SMEMBERS", k).Strings()
			case "zset":
				e.Values = call("ZRANGE", k, "0", "-1", "WITHSCORES").Strings()
			case "stream":
				e.Values = call("XRANGE", k, "-", "+").Strings()
			default:
				e.Values = []string{"(type " + e.Type + " not read)"}
			}
			e.PTTL = call("PTTL", k).Int
			if db > 0 {
				e.Key = strconv.Itoa(db) + "/" + k
			}
			out = append(out, e)
		}
	}
	return out
}

// Monitor records every command the server receives (MONITOR) until Stop
// or until the server goes away.
type Monitor struct {
	cn   *conn
	done chan struct{}
	mu   sync.Mutex
	buf  strings.Builder
	size int
}

// Monitor starts recording; it ends with the test at the latest.
func (s *Server) Monitor(t testing.TB) *Monitor {
	t.Helper()
	cn, err := s.dial(cmdTimeout)
	if err != nil {
		t.Fatalf("redisrun: Monitor: %v", err)
	}
	_ = cn.c.SetDeadline(time.Now().Add(cmdTimeout))
	if v, err := cn.do("MONITOR"); err != nil || v.Str != "OK" {
		_ = cn.c.Close()
		t.Fatalf("redisrun: MONITOR: %+v %v", v, err)
	}
	_ = cn.c.SetDeadline(time.Time{})
	mon := &Monitor{cn: cn, done: make(chan struct{})}
	go mon.read()
	t.Cleanup(mon.Stop)
	return mon
}

func (mon *Monitor) read() {
	defer close(mon.done)
	for {
		line, err := readLine(mon.cn.rd)
		if err != nil {
			return
		}
		mon.mu.Lock()
		if mon.size < maxMonitor {
			mon.buf.WriteString(line)
			mon.buf.WriteByte('\n')
			mon.size += len(line) + 1
		}
		mon.mu.Unlock()
	}
}

// Stop ends the recording and returns once the reader is done.
func (mon *Monitor) Stop() {
	_ = mon.cn.c.Close()
	<-mon.done
}

// Text is what was recorded so far: one line per command, as MONITOR
// prints it (+<time> [<db> <client>] "<arg>" "<arg>" ...).
func (mon *Monitor) Text() string {
	mon.mu.Lock()
	defer mon.mu.Unlock()
	return mon.buf.String()
}
