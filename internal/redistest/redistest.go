// Package redistest runs a real redis-server (Debian's package) on a free
// loopback port in a temporary directory, for the tests of the Redis
// client and of cluster mode. Without the binary a test skips, unless
// AUTHLAYER_REQUIRE_REDIS=1 (CI) makes that a failure.
//
// Processes are started with os.StartProcess and signalled with
// /bin/kill: os/exec and syscall are neither in the plugin's allowed
// imports nor in Yaegi's standard library, and these tests run under
// Yaegi too. Not imported by the plugin.
package redistest

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Server is one redis-server process the test started.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	args    []string // the arguments after the port and the common ones
	proc    *os.Process
	stopped bool // SIGSTOP sent and no SIGCONT since
}

// Binary finds redis-server: $REDIS_SERVER, /usr/bin/redis-server,
// then PATH.
func Binary() string {
	candidates := []string{os.Getenv("REDIS_SERVER"), "/usr/bin/redis-server"}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(dir, "redis-server"))
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		fi, err := os.Stat(c) //nolint:gosec // the test's own candidates for the binary
		if err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// Need returns the binary or skips (fails with
// AUTHLAYER_REQUIRE_REDIS=1).
func Need(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin != "" {
		return bin
	}
	msg := "redis-server not found ($REDIS_SERVER, /usr/bin/redis-server, PATH): install Debian's redis-server package to run the Redis integration tests"
	if os.Getenv("AUTHLAYER_REQUIRE_REDIS") == "1" {
		t.Fatal(msg + " (AUTHLAYER_REQUIRE_REDIS=1)")
	}
	t.Skip(msg + "; AUTHLAYER_REQUIRE_REDIS=1 makes this a failure")
	return ""
}

// FreePort is a loopback port nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// Start starts redis-server with args on a free port and waits until
// it answers PING. The server is killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin := Need(t)
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.port = FreePort(t)
		if err = s.start(); err == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", err)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	return "127.0.0.1:" + strconv.Itoa(s.port)
}

// start runs the process and waits (5s at most) until the port answers.
func (s *Server) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	argv := []string{s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}
	argv = append(argv, s.args...)
	if s.hasArg("--tls-port") {
		// A TLS-only server: the plain port is off, the TLS port is ours.
		argv[2] = "0"
		for i, a := range argv {
			if a == "--tls-port" {
				argv[i+1] = strconv.Itoa(s.port)
			}
		}
	}
	proc, err := os.StartProcess(s.bin, argv, &os.ProcAttr{Dir: s.dir, Files: []*os.File{nil, logf, logf}})
	if err != nil {
		return err
	}
	s.proc = proc
	for i := 0; i < 100; i++ {
		c, err := (&net.Dialer{Timeout: 100 * time.Millisecond}).DialContext(context.Background(), "tcp", s.Addr())
		if err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Kill()
	return errors.New("no answer on " + s.Addr() + "; log: " + s.Log())
}

func (s *Server) hasArg(name string) bool {
	for _, a := range s.args {
		if a == name {
			return true
		}
	}
	return false
}

// Log is the server's log, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Kill stops the process (SIGKILL, which also ends a stopped one) and
// reaps it.
func (s *Server) Kill() {
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	_, _ = s.proc.Wait()
	s.proc = nil
	s.stopped = false
}

// Restart starts the server again on the same port, empty (nothing is
// saved).
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("redis-server did not restart: %v", err)
}

// Signal sends a signal by name with /bin/kill (SIGSTOP needs syscall,
// which the plugin's packages may not import).
func (s *Server) Signal(name string) {
	s.t.Helper()
	kill := "/bin/kill"
	if _, err := os.Stat(kill); err != nil {
		kill = "/usr/bin/kill"
	}
	p, err := os.StartProcess(kill, []string{"kill", "-" + name, strconv.Itoa(s.proc.Pid)}, &os.ProcAttr{Files: []*os.File{nil, os.Stderr, os.Stderr}})
	if err != nil {
		s.t.Fatalf("kill -%s: %v", name, err)
	}
	st, err := p.Wait()
	if err != nil || !st.Success() {
		s.t.Fatalf("kill -%s: %v %v", name, st, err)
	}
	s.stopped = name == "STOP"
}

// Stopped reports whether the server was sent SIGSTOP and no SIGCONT since.
func (s *Server) Stopped() bool { return s.stopped }
