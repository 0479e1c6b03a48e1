package redis

import (
	"errors"
	"github.com/authlayer/authlayer/internal/redistest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewChecksOptionsOffline(t *testing.T) {
	bad := []struct {
		o    Options
		name string // the option the error must name
	}{
		{Options{}, "Addresses"},
		{Options{Addresses: []string{"localhost"}}, "Addresses[0]"},
		{Options{Addresses: []string{"a:1", "redis://h:6379"}}, "Addresses[1]"},
		{Options{Addresses: []string{"user:pw-in-address@h:6379"}}, "Addresses[0]"},
		{Options{Addresses: []string{"h:0"}}, "Addresses[0]"},
		{Options{Addresses: []string{"h:70000"}}, "Addresses[0]"},
		{Options{Addresses: []string{":6379"}}, "Addresses[0]"},
		{Options{Addresses: []string{"h:1"}, Username: "app"}, "Username"},
		{Options{Addresses: []string{"h:1"}, Username: "a b", Password: "p"}, "Username"},
		{Options{Addresses: []string{"h:1"}, DB: -1}, "DB"},
		{Options{Addresses: []string{"h:1"}, ReadTimeout: -time.Second}, "ReadTimeout"},
		{Options{Addresses: []string{"h:1"}, PoolSize: -1}, "PoolSize"},
		{Options{Addresses: []string{"h:1"}, PoolSize: 5000}, "PoolSize"},
		{Options{Addresses: []string{"h:1"}, CAPEM: "x"}, "CAPEM"},
		{Options{Addresses: []string{"h:1"}, InsecureSkipVerify: true}, "InsecureSkipVerify"},
		{Options{Addresses: []string{"h:1"}, ServerName: "r"}, "ServerName"},
		{Options{Addresses: []string{"h:1"}, KeyPEM: "k"}, "KeyPEM"},
		{Options{Addresses: []string{"h:1"}, TLS: true, CAPEM: "not pem"}, "CAPEM"},
		{Options{Addresses: []string{"h:1"}, TLS: true, CertPEM: "c"}, "KeyPEM"},
		{Options{Addresses: []string{"h:1"}, TLS: true, CertPEM: "c", KeyPEM: "k"}, "CertPEM"},
	}
	for _, b := range bad {
		_, err := New(b.o)
		if err == nil || !strings.Contains(err.Error(), b.name) {
			t.Errorf("%+v: error %v, want one naming %s", b.o, err, b.name)
		}
		if err != nil && strings.Contains(err.Error(), "pw-in-address") {
			t.Errorf("the error %q quotes the address's credentials", err)
		}
	}
	// Nothing listens on port 1: New must still succeed (no I/O), and the
	// first command fails as unavailable.
	c, err := New(Options{Addresses: []string{"127.0.0.1:1"}, Password: "p", DB: 2, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(c)
	if c.size != defaultPoolSize || c.readTimeout != defaultReadTimeout || c.handshakeN != 2 {
		t.Fatalf("defaults: size %d, read timeout %v, handshake %d", c.size, c.readTimeout, c.handshakeN)
	}
	if _, err := Do(c, soon(), "PING"); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrServer) {
		t.Fatalf("PING to a closed port: %v", err)
	}
	if Key(c, "x") != "x" {
		t.Fatal("Key without a prefix changed the name")
	}
}

func TestStringsKeysAndExpiry(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{KeyPrefix: "al:"})
	k := Key(c, "k")
	if k != "al:k" {
		t.Fatalf("Key = %q", k)
	}
	binary := "a\r\nb\x00\xff$3\r\n"
	if v := must(t, c, "SET", k, binary); v.Kind != KindStatus || v.Str != "OK" {
		t.Fatalf("SET: %+v", v)
	}
	if v := must(t, c, "GET", k); v.Kind != KindBulk || v.Str != binary {
		t.Fatalf("GET: %+v", v)
	}
	if v := must(t, c, "GET", Key(c, "missing")); v.Kind != KindNil {
		t.Fatalf("GET of a missing key: %+v", v)
	}
	if v := must(t, c, "PTTL", k); v.Kind != KindInt || v.Int != -1 {
		t.Fatalf("PTTL without expiry: %+v", v)
	}
	if v := must(t, c, "EXPIRE", k, "100"); v.Int != 1 {
		t.Fatalf("EXPIRE: %+v", v)
	}
	if v := must(t, c, "PTTL", k); v.Int <= 90000 || v.Int > 100000 {
		t.Fatalf("PTTL after EXPIRE 100: %+v", v)
	}
	if v := must(t, c, "DEL", k, Key(c, "missing")); v.Int != 1 {
		t.Fatalf("DEL: %+v", v)
	}
	if v := must(t, c, "PTTL", k); v.Int != -2 {
		t.Fatalf("PTTL of a deleted key: %+v", v)
	}
	// A server error: the connection stays usable.
	must(t, c, "SET", k, "text")
	_, err := Do(c, soon(), "INCR", k)
	if !errors.Is(err, ErrServer) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("INCR of text: %v", err)
	}
	if v := must(t, c, "GET", k); v.Str != "text" {
		t.Fatalf("GET after a server error: %+v", v)
	}
	if n := connectedClients(t, c); n != 1 {
		t.Fatalf("%d connections after sequential commands, want 1 (reused)", n)
	}
	// A deadline already past fails at once and leaves the pooled
	// connection alone.
	if _, err := Do(c, time.Now().Add(-time.Millisecond), "GET", k); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("past deadline: %v", err)
	}
	if n := idleConns(c); n != 1 {
		t.Fatalf("%d idle connections after a past deadline, want the one", n)
	}
}

// connectedClients asks the server how many clients it has.
func connectedClients(t *testing.T, c *Client) int {
	t.Helper()
	info := must(t, c, "INFO", "clients").Str
	for _, line := range strings.Split(info, "\r\n") {
		if strings.HasPrefix(line, "connected_clients:") {
			n, err := strconv.Atoi(strings.TrimPrefix(line, "connected_clients:"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no connected_clients in %q", info)
	return 0
}

// lockRelease deletes the lock only if it still holds the caller's token.
const lockRelease = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`

func TestLockWithSetNXAndScriptedRelease(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{})
	if v := must(t, c, "SET", "lock", "owner-a", "NX", "PX", "10000"); v.Kind != KindStatus {
		t.Fatalf("first SET NX: %+v", v)
	}
	if v := must(t, c, "SET", "lock", "owner-b", "NX", "PX", "10000"); v.Kind != KindNil {
		t.Fatalf("second SET NX took a held lock: %+v", v)
	}
	if v := must(t, c, "PTTL", "lock"); v.Int <= 0 || v.Int > 10000 {
		t.Fatalf("lock PTTL %+v", v)
	}
	if v := must(t, c, "EVAL", lockRelease, "1", "lock", "owner-b"); v.Kind != KindInt || v.Int != 0 {
		t.Fatalf("release by another owner: %+v", v)
	}
	if v := must(t, c, "GET", "lock"); v.Str != "owner-a" {
		t.Fatalf("lock after a foreign release: %+v", v)
	}
	if v := must(t, c, "EVAL", lockRelease, "1", "lock", "owner-a"); v.Int != 1 {
		t.Fatalf("release by the owner: %+v", v)
	}
	if v := must(t, c, "SET", "lock", "owner-b", "NX", "PX", "10000"); v.Kind != KindStatus {
		t.Fatalf("SET NX after release: %+v", v)
	}
	// A script returning a nested table comes back as nested arrays.
	v := must(t, c, "EVAL", `return {1, {"a", false}, redis.status_reply("fine")}`, "0")
	if v.Kind != KindArray || len(v.Array) != 3 || v.Array[1].Array[0].Str != "a" || v.Array[1].Array[1].Kind != KindNil || v.Array[2].Str != "fine" {
		t.Fatalf("nested script reply: %+v", v)
	}
	if _, err := Do(c, soon(), "EVAL", `return redis.error_reply("NOPE no")`, "0"); !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "NOPE no") {
		t.Fatalf("script error: %v", err)
	}
}

func TestPipelinedCounterWithExpiry(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{})
	for i := int64(1); i <= 3; i++ {
		vals, err := Pipeline(c, soon(), []string{"INCR", "budget"}, []string{"PEXPIRE", "budget", "5000", "NX"}, []string{"PTTL", "budget"})
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 3 || vals[0].Int != i {
			t.Fatalf("round %d: %+v", i, vals)
		}
		wantSet := int64(0) // PEXPIRE NX sets the expiry the first time only
		if i == 1 {
			wantSet = 1
		}
		if vals[1].Int != wantSet {
			t.Fatalf("round %d: PEXPIRE NX answered %+v", i, vals[1])
		}
		if vals[2].Int <= 0 || vals[2].Int > 5000 {
			t.Fatalf("PTTL %+v", vals[2])
		}
	}
	// An error reply to one command of a pipeline is that command's value.
	vals, err := Pipeline(c, soon(), []string{"SET", "t", "x"}, []string{"INCR", "t"}, []string{"GET", "t"})
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Str != "OK" || vals[1].Kind != KindError || !errors.Is(Err(vals[1]), ErrServer) || vals[2].Str != "x" {
		t.Fatalf("pipeline with an error: %+v", vals)
	}
	// A long pipeline, larger than the socket buffers.
	cmds := make([][]string, 0, 2000)
	for i := 0; i < 2000; i++ {
		cmds = append(cmds, []string{"SET", "p" + strconv.Itoa(i), strings.Repeat("v", 200)})
	}
	vals, err = Pipeline(c, soon(), cmds...)
	if err != nil || len(vals) != 2000 || vals[1999].Str != "OK" {
		t.Fatalf("long pipeline: %d replies, %v", len(vals), err)
	}
	if v := must(t, c, "DBSIZE"); v.Int != 2002 {
		t.Fatalf("DBSIZE %d after the pipelines", v.Int)
	}
}

func TestSelectDatabase(t *testing.T) {
	s := startRedis(t)
	c3 := serverClient(t, s, Options{DB: 3})
	c0 := serverClient(t, s, Options{})
	must(t, c3, "SET", "where", "three")
	if v := must(t, c0, "GET", "where"); v.Kind != KindNil {
		t.Fatalf("db 0 sees db 3's key: %+v", v)
	}
	other := serverClient(t, s, Options{DB: 3})
	if v := must(t, other, "GET", "where"); v.Str != "three" {
		t.Fatalf("another client on db 3: %+v", v)
	}
	bad := serverClient(t, s, Options{DB: 99})
	_, err := Do(bad, soon(), "PING")
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "DB index") {
		t.Fatalf("SELECT 99: %v", err)
	}
}

func TestAuthWithAnACLUser(t *testing.T) {
	s := startRedis(t)
	admin := serverClient(t, s, Options{})
	const password = "correct-horse-battery-8f3a"
	must(t, admin, "ACL", "SETUSER", "app", "on", ">"+password, "~app:*", "&app:*", "+@all")
	must(t, admin, "CONFIG", "SET", "requirepass", "default-pass-77c1")

	app := serverClient(t, s, Options{Username: "app", Password: password, KeyPrefix: "app:"})
	must(t, app, "SET", Key(app, "k"), "v")
	_, err := Do(app, soon(), "SET", "other:k", "v")
	if !errors.Is(err, ErrAuth) || !errors.Is(err, ErrServer) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("a key outside the ACL's pattern: %v", err)
	}

	const wrong = "wrong-pass-1234-zz"
	for _, o := range []Options{
		{Username: "app", Password: wrong},
		{Password: wrong},
		{Username: "nobody", Password: wrong},
	} {
		c := serverClient(t, s, o)
		_, err := Do(c, soon(), "PING")
		if !errors.Is(err, ErrAuth) || !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("user %q with a wrong password: %v", o.Username, err)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), password) {
			t.Fatalf("the error %q holds a password", err)
		}
	}
	// No password at all, where one is required.
	none := serverClient(t, s, Options{})
	if _, err := Do(none, soon(), "GET", "x"); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("no AUTH: %v", err)
	}
	// The default user with requirepass: AUTH password alone.
	def := serverClient(t, s, Options{Password: "default-pass-77c1", DB: 1})
	if v := must(t, def, "PING"); v.Str != "PONG" {
		t.Fatalf("PING as the default user: %+v", v)
	}
}

// TestKilledServerIsUnavailableThenReconnects: a server killed in the
// middle of a command fails that command as unavailable; after a
// restart, a pooled connection the old server left behind is replaced
// on its first use (the command succeeds); while the server is down,
// commands fail fast as unavailable.
func TestKilledServerIsUnavailableThenReconnects(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{PoolSize: 4, ReadTimeout: 10 * time.Second})
	must(t, c, "SET", "before", "1")
	blocked := make(chan error, 1)
	go func() {
		_, err := Do(c, time.Now().Add(8*time.Second), "BLPOP", "never", "8")
		blocked <- err
	}()
	waitBlocked(t, s, 1)
	must(t, c, "PING") // a second connection, idle when the server dies
	start := time.Now()
	s.Kill()
	// cut, not err: under Yaegi v0.16.1 a variable that took a
	// single-value receive panics when assigned again (v, err := below).
	cut := <-blocked
	if !errors.Is(cut, ErrUnavailable) || errors.Is(cut, ErrServer) {
		t.Fatalf("command cut by the kill: %v", cut)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the cut command waited %v", waited)
	}

	s.Restart()
	if n := idleConns(c); n != 1 {
		t.Fatalf("%d idle connections, want the one the old server left", n)
	}
	v, err := Do(c, soon(), "GET", "before")
	if err != nil || v.Kind != KindNil {
		t.Fatalf("first command after the restart (an empty server): %+v, %v", v, err)
	}
	must(t, c, "SET", "after", "1")

	s.Kill()
	start = time.Now()
	for i := 0; i < 3; i++ {
		if _, err := Do(c, soon(), "GET", "after"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("command while the server is down: %v", err)
		}
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("3 commands to a server that is down took %v", waited)
	}
	s.Restart()
	must(t, c, "SET", "again", "1")
}

func idleConns(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle)
}

// waitBlocked waits until the server reports n blocked clients.
func waitBlocked(t *testing.T, s *redisServer, n int) {
	t.Helper()
	waitInfo(t, s, "blocked_clients", n)
}

// waitInfo waits (2s at most) until INFO clients reports field at n.
func waitInfo(t *testing.T, s *redisServer, field string, n int) {
	t.Helper()
	probe, err := New(Options{Addresses: []string{s.Addr()}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(probe)
	want := field + ":" + strconv.Itoa(n) + "\r\n"
	info := ""
	for i := 0; i < 200; i++ {
		info = must(t, probe, "INFO", "clients").Str
		if strings.Contains(info, want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the server never reported %s:%d: %q", field, n, info)
}

// TestStoppedServerTimesOutWithinTheDeadline: a server that stops
// answering (SIGSTOP: the kernel still accepts connections and data)
// makes a command fail as unavailable by its deadline, whether it runs on
// a pooled connection or has to dial one.
func TestStoppedServerTimesOutWithinTheDeadline(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{PoolSize: 2, ReadTimeout: 3 * time.Second})
	must(t, c, "PING")
	s.Signal("STOP")
	defer func() {
		if s.Stopped() {
			s.Signal("CONT")
		}
	}()
	for _, budget := range []time.Duration{300 * time.Millisecond, 200 * time.Millisecond} {
		start := time.Now()
		_, err := Do(c, start.Add(budget), "GET", "k")
		waited := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("command to a stopped server: %v", err)
		}
		if waited < budget-20*time.Millisecond || waited > budget+2*time.Second {
			t.Fatalf("waited %v for a %v deadline", waited, budget)
		}
	}
	// The read timeout applies when the caller's deadline is later.
	start := time.Now()
	short := serverClient(t, s, Options{ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	if _, err := Do(short, start.Add(time.Minute), "PING"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("command to a stopped server: %v", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("waited %v with 200ms timeouts", waited)
	}
	s.Signal("CONT")
	if v := must(t, c, "PING"); v.Str != "PONG" {
		t.Fatalf("after SIGCONT: %+v", v)
	}
}

// TestPoolIsBoundedAndWaitsUntilTheDeadline: never more connections than
// PoolSize; a command over them waits for one until its deadline, then
// fails as unavailable; one freed in time goes to the waiter.
func TestPoolIsBoundedAndWaitsUntilTheDeadline(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{PoolSize: 2})
	other := serverClient(t, s, Options{})

	done := make(chan error, 2)
	for i := 0; i < 2; i++ {
		key := "q" + strconv.Itoa(i)
		go func() {
			_, err := Do(c, time.Now().Add(8*time.Second), "BLPOP", key, "8")
			done <- err
		}()
	}
	waitBlocked(t, s, 2)

	start := time.Now()
	_, err := Do(c, start.Add(150*time.Millisecond), "PING")
	waited := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("command over the pool: %v", err)
	}
	if waited < 130*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("waited %v for a 150ms deadline", waited)
	}
	if _, err := Do(c, time.Now().Add(-time.Second), "PING"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("past deadline over the pool: %v", err)
	}

	got := make(chan error, 1)
	go func() {
		_, err := Do(c, time.Now().Add(5*time.Second), "PING")
		got <- err
	}()
	waitWaiters(t, c, 1)
	must(t, other, "LPUSH", "q0", "x")
	if err := <-got; err != nil {
		t.Fatalf("the waiter did not get the freed connection: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}
	must(t, other, "LPUSH", "q1", "x")
	if err := <-done; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}

	// Under load from many goroutines the server never sees more than
	// PoolSize connections of c (plus other's one).
	var wg sync.WaitGroup
	errs := make(chan error, 16*25)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := Do(c, time.Now().Add(5*time.Second), "INCR", "n"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("under load: %v", err)
	}
	if v := must(t, other, "GET", "n"); v.Str != "400" {
		t.Fatalf("n = %q after 400 INCR", v.Str)
	}
	if n := connectedClients(t, other); n > 3 {
		t.Fatalf("%d connections to the server, want at most PoolSize 2 + 1", n)
	}
	c.mu.Lock()
	open, idle, waiting := c.open, len(c.idle), len(c.waiters)
	c.mu.Unlock()
	if open != 2 || idle != 2 || waiting != 0 {
		t.Fatalf("pool after the load: open %d, idle %d, waiting %d", open, idle, waiting)
	}
}

// waitWaiters waits until n commands wait for a connection of c.
func waitWaiters(t *testing.T, c *Client, n int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		c.mu.Lock()
		w := len(c.waiters)
		c.mu.Unlock()
		if w == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never %d waiters", n)
}

func TestCloseFailsWaitersAndLaterCommands(t *testing.T) {
	s := startRedis(t)
	c, err := New(Options{Addresses: []string{s.Addr()}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := serverClient(t, s, Options{})
	held := make(chan error, 1)
	go func() {
		_, err := Do(c, time.Now().Add(8*time.Second), "BLPOP", "held", "8")
		held <- err
	}()
	waitBlocked(t, s, 1)
	waiting := make(chan error, 1)
	go func() {
		_, err := Do(c, time.Now().Add(8*time.Second), "PING")
		waiting <- err
	}()
	waitWaiters(t, c, 1)
	Close(c)
	if err := <-waiting; !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("a waiter at Close: %v", err)
	}
	if _, err := Do(c, soon(), "PING"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a command after Close: %v", err)
	}
	must(t, other, "LPUSH", "held", "x")
	if err := <-held; err != nil {
		t.Fatalf("the command in flight at Close: %v", err)
	}
	c.mu.Lock()
	open := c.open
	c.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d connections left open after Close", open)
	}
	waitInfo(t, s, "connected_clients", 2) // other's and the probe's

}

// TestSecondAddressWhenTheFirstIsDown: the first address that answers is
// used, and remembered.
func TestSecondAddressWhenTheFirstIsDown(t *testing.T) {
	s := startRedis(t)
	down := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	c, err := New(Options{Addresses: []string{down, s.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(c)
	if v, err := Do(c, soon(), "PING"); err != nil || v.Str != "PONG" {
		t.Fatalf("PING: %+v, %v", v, err)
	}
	if c.preferred != 1 {
		t.Fatalf("preferred address %d, want 1", c.preferred)
	}
}
