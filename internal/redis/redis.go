// Package redis is a small Redis client (RESP2) written for Yaegi: the
// standard library only (net, bufio, crypto/tls), no select statement, no
// interpreted callback handed to compiled code (no
// tls.Config.VerifyPeerCertificate, no net.Dialer.Control, no
// time.AfterFunc), plain functions taking the client first.
//
// It speaks to one server (Redis, or Valkey and KeyDB, which speak the
// same protocol) through a bounded pool of connections: New checks the
// options and builds the TLS configuration without any network I/O
// (Traefik calls the plugin's New offline); connections are dialled on
// first use, authenticated (AUTH user pass, or AUTH pass) and switched to
// their database (SELECT) in one round trip, and reused. A connection
// that meets any network or protocol error is closed, never reused; the
// next command dials again (a pooled connection the server closed while
// it sat idle is replaced at once, see run). The pool never holds more than PoolSize
// connections: a command beyond them waits for one until its deadline and
// then fails. A subscription (Subscribe) has its own connection outside
// the pool.
//
// Every command carries a deadline (the caller's, bounded by the read,
// write and dial timeouts). The client starts no goroutine of its own
// except the timer of a command waiting for a pooled connection, which
// ends by that command's deadline. In particular nothing reconnects in
// the background: the next command, or the caller's subscription loop,
// does (see Subscribe for why).
//
// Errors tell the two failures apart with errors.Is on sentinels (Yaegi's
// errors.As panics): ErrUnavailable when no answer came (network, timeout,
// pool exhausted, closed client, an unreadable reply), ErrServer when the
// server answered with an error reply, ErrAuth as well for NOAUTH,
// WRONGPASS and NOPERM. No error message holds the password.
//
// Replies are bounded (a bulk string at most 4 MiB, an array at most 2^16
// elements nested at most 16 deep, a reply at most 16 MiB counting 64
// bytes per element): a hostile or broken server cannot make the client
// allocate more than tens of megabytes per connection.
package redis

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The error classes: every error of a command or a subscription wraps
// exactly one of ErrUnavailable and ErrServer, but ErrNoMessage and the
// refusal of a malformed call (an empty command, no channel). Test them
// with errors.Is.
var (
	// ErrUnavailable: no answer. The server could not be reached, did not
	// answer before the deadline, the pool had no connection free before
	// the deadline, the client is closed, or the reply was unreadable. A
	// command that timed out or lost its connection may or may not have
	// run on the server.
	ErrUnavailable = errors.New("redis: unavailable")
	// ErrProtocol: the server's reply broke the protocol or a size limit
	// (also ErrUnavailable).
	ErrProtocol = errors.New("redis: protocol error")
	// ErrServer: the server answered with an error reply (-ERR ...,
	// -WRONGTYPE ...). The connection stays usable.
	ErrServer = errors.New("redis: server error")
	// ErrAuth: the server refused the credentials or the permission
	// (NOAUTH, WRONGPASS, NOPERM); also ErrServer.
	ErrAuth = errors.New("redis: authentication or permission refused")
	// ErrNoMessage: Next's deadline passed without a message; the
	// subscription is still usable.
	ErrNoMessage = errors.New("redis: no message before the deadline")
)

// Options describe the server and how to talk to it. Each field says what
// its zero value means; New fills in the defaults.
type Options struct {
	// Addresses are host:port endpoints of the same server (a name and
	// its fallbacks, a proxy's addresses), tried in order until one
	// answers; the last one that answered is tried first afterwards. Not
	// a cluster or sentinel client. At least one.
	Addresses []string
	// Username selects an ACL user (AUTH Username Password); empty: AUTH
	// Password alone (the default user, requirepass). Needs Password.
	Username string
	// Password; empty: no AUTH. Never appears in an error.
	Password string
	// DB is the database number (SELECT DB); 0: no SELECT.
	DB int
	// TLS turns TLS on. The fields below need it.
	TLS bool
	// CAPEM holds the PEM certificates of the authorities that sign the
	// server's certificate; empty: the system's roots.
	CAPEM string
	// CertPEM and KeyPEM are the client certificate and its key, for a
	// server that asks for one (tls-auth-clients); both or neither.
	CertPEM, KeyPEM string
	// InsecureSkipVerify accepts any server certificate (tests only).
	InsecureSkipVerify bool
	// ServerName is the name the server's certificate must hold; empty:
	// the host of the address dialled.
	ServerName string
	// DialTimeout bounds connecting, the TLS handshake and AUTH/SELECT;
	// 0: 5s.
	DialTimeout time.Duration
	// ReadTimeout bounds waiting for the replies of one command or
	// pipeline; 0: 3s.
	ReadTimeout time.Duration
	// WriteTimeout bounds sending one command or pipeline; 0: 3s.
	WriteTimeout time.Duration
	// PoolSize is the most connections the pool opens (a subscription's
	// is not counted); 0: 8.
	PoolSize int
	// KeyPrefix is put before key and channel names by Key.
	KeyPrefix string
}

// The defaults of the zero options (those of Traefik's rateLimit.redis
// for the timeouts).
const (
	defaultDialTimeout  = 5 * time.Second
	defaultReadTimeout  = 3 * time.Second
	defaultWriteTimeout = 3 * time.Second
	defaultPoolSize     = 8
	maxPoolSize         = 1024
)

// Client is a pool of connections to one server. Make it with New; it is
// safe for concurrent use.
type Client struct {
	addrs        []string
	tlsConfigs   []*tls.Config // per address, nil without TLS
	handshake    []byte        // AUTH and SELECT, encoded once; nil when neither is needed
	handshakeN   int           // replies the handshake expects
	secret       string        // the password, scrubbed from server texts
	prefix       string
	dialTimeout  time.Duration
	readTimeout  time.Duration
	writeTimeout time.Duration
	size         int

	mu        sync.Mutex // protects everything below
	idle      []*conn    // most recently used last
	open      int        // connections held: idle, in use, or being dialled
	waiters   []*waiter  // commands waiting for a connection, first first
	closed    bool
	preferred int // index of the address that answered last
}

// conn is one connection, used by one command at a time.
type conn struct {
	nc   net.Conn
	addr string
	r    *bufio.Reader
	buf  []byte // the write buffer, reused
	used bool   // it has served a command: a failure may be a stale connection
}

// waiter is a command waiting for a connection. done is set, under the
// client's lock, by whichever of a release or the timer settles it first.
type waiter struct {
	ch   chan grant
	done bool
}

// grant settles a wait: a connection, or a free place to dial one (cn
// nil, ok true), or nothing (ok false: the deadline passed, or the
// client closed).
type grant struct {
	cn *conn
	ok bool
}

// New checks o and returns a client. It does no network I/O: the first
// command dials. An error names the option.
func New(o Options) (*Client, error) {
	c := &Client{
		secret:       o.Password,
		prefix:       o.KeyPrefix,
		dialTimeout:  orDefault(o.DialTimeout, defaultDialTimeout),
		readTimeout:  orDefault(o.ReadTimeout, defaultReadTimeout),
		writeTimeout: orDefault(o.WriteTimeout, defaultWriteTimeout),
		size:         o.PoolSize,
	}
	if c.size == 0 {
		c.size = defaultPoolSize
	}
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	for _, a := range o.Addresses {
		c.addrs = append(c.addrs, strings.TrimSpace(a))
	}
	if o.TLS {
		cfgs, err := tlsConfigs(o, c.addrs)
		if err != nil {
			return nil, err
		}
		c.tlsConfigs = cfgs
	}
	var hs []byte
	if o.Password != "" && o.Username != "" {
		hs = appendCommand(hs, []string{"AUTH", o.Username, o.Password})
		c.handshakeN++
	} else if o.Password != "" {
		hs = appendCommand(hs, []string{"AUTH", o.Password})
		c.handshakeN++
	}
	if o.DB != 0 {
		hs = appendCommand(hs, []string{"SELECT", strconv.Itoa(o.DB)})
		c.handshakeN++
	}
	c.handshake = hs
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkOptions refuses options New cannot use; the error names the field.
func checkOptions(o Options) error {
	if len(o.Addresses) == 0 {
		return errors.New("redis: option Addresses: at least one host:port is needed")
	}
	for i, a := range o.Addresses {
		if err := checkAddress(strings.TrimSpace(a)); err != nil {
			return fmt.Errorf("redis: option Addresses[%d]: %v", i, err)
		}
	}
	if o.Username != "" && o.Password == "" {
		return errors.New("redis: option Username: needs a Password")
	}
	if strings.ContainsAny(o.Username, " \t\r\n") {
		return errors.New("redis: option Username: must not contain spaces or line breaks")
	}
	if o.DB < 0 {
		return errors.New("redis: option DB: must not be negative")
	}
	if o.DialTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 {
		return errors.New("redis: options DialTimeout, ReadTimeout, WriteTimeout: must not be negative")
	}
	if o.PoolSize < 0 || o.PoolSize > maxPoolSize {
		return fmt.Errorf("redis: option PoolSize: must be between 0 (default %d) and %d", defaultPoolSize, maxPoolSize)
	}
	if !o.TLS {
		switch {
		case o.CAPEM != "":
			return errors.New("redis: option CAPEM: needs TLS")
		case o.CertPEM != "" || o.KeyPEM != "":
			return errors.New("redis: options CertPEM, KeyPEM: need TLS")
		case o.InsecureSkipVerify:
			return errors.New("redis: option InsecureSkipVerify: needs TLS")
		case o.ServerName != "":
			return errors.New("redis: option ServerName: needs TLS")
		}
	}
	return nil
}

// checkAddress accepts host:port with a port from 1 to 65535; a URL or
// credentials (user:pass@host) are refused, the error quoting nothing.
func checkAddress(a string) error {
	if strings.Contains(a, "@") || strings.Contains(a, "/") {
		return errors.New("must be host:port (no scheme, no credentials: use Username and Password)")
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return errors.New("must be host:port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// tlsConfigs builds one configuration per address (its ServerName is the
// address's host unless o.ServerName says otherwise).
func tlsConfigs(o Options, addrs []string) ([]*tls.Config, error) {
	base := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice, documented as tests only
	}
	if o.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(o.CAPEM)) {
			return nil, errors.New("redis: option CAPEM: no PEM certificate found")
		}
		base.RootCAs = pool
	}
	if (o.CertPEM == "") != (o.KeyPEM == "") {
		return nil, errors.New("redis: options CertPEM, KeyPEM: give both or neither")
	}
	if o.CertPEM != "" {
		pair, err := tls.X509KeyPair([]byte(o.CertPEM), []byte(o.KeyPEM))
		if err != nil {
			return nil, errors.New("redis: options CertPEM, KeyPEM: not a certificate and its private key in PEM")
		}
		base.Certificates = []tls.Certificate{pair}
	}
	cfgs := make([]*tls.Config, 0, len(addrs))
	for _, a := range addrs {
		cfg := base.Clone()
		cfg.ServerName = o.ServerName
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(a)
			cfg.ServerName = host
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, nil
}

// Key is name with the client's KeyPrefix before it: every key and
// channel the plugin uses goes through it, so an ACL limited to the
// prefix (~prefix* &prefix*) is enough.
func Key(c *Client, name string) string {
	return c.prefix + name
}

// Do sends one command and reads its reply. A server error reply is
// returned as an error wrapping ErrServer (and ErrAuth for NOAUTH,
// WRONGPASS, NOPERM) with the reply's text. deadline bounds the whole
// command, the wait for a connection included, and each step is also
// bounded by its own timeout option; a zero deadline is the sum of the
// three timeouts.
func Do(c *Client, deadline time.Time, args ...string) (Value, error) {
	vals, err := run(c, deadline, [][]string{args})
	if err != nil {
		return Value{}, err
	}
	v := vals[0]
	if v.Kind == KindError {
		return Value{}, Err(v)
	}
	return v, nil
}

// Pipeline sends the commands at once and reads their replies, in order,
// one round trip in all. A server error reply to one command is that
// command's Value (KindError, see Err), the others are unaffected; the
// error returned is for the whole exchange (ErrUnavailable).
func Pipeline(c *Client, deadline time.Time, cmds ...[]string) ([]Value, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	return run(c, deadline, cmds)
}

// Err is nil unless v is an error reply, then an error wrapping ErrServer
// (and ErrAuth for NOAUTH, WRONGPASS, NOPERM) with the server's text.
func Err(v Value) error {
	if v.Kind != KindError {
		return nil
	}
	if isAuthError(v.Str) {
		return fmt.Errorf("%w: %w: %s", ErrServer, ErrAuth, v.Str)
	}
	return fmt.Errorf("%w: %s", ErrServer, v.Str)
}

func isAuthError(text string) bool {
	return strings.HasPrefix(text, "NOAUTH") || strings.HasPrefix(text, "WRONGPASS") || strings.HasPrefix(text, "NOPERM")
}

// run takes a connection, exchanges cmds on it and gives it back (or
// closes it after a failure). A reused connection that fails before any
// byte of a reply arrived, other than by a timeout, is how a connection
// the server closed while it sat idle shows (a restart, the server's
// timeout): the commands are sent once more on a new connection. They
// could run twice only if the server ran them and then the connection
// broke before a single byte of the answer: a server that died there
// leaves nothing to dial for the second try, so that takes a connection
// reset between a command and its answer on a live server.
func run(c *Client, deadline time.Time, cmds [][]string) ([]Value, error) {
	for _, cmd := range cmds {
		if len(cmd) == 0 {
			return nil, errors.New("redis: empty command")
		}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(c.dialTimeout + c.writeTimeout + c.readTimeout)
	} else if !time.Now().Before(deadline) {
		// Not even a pooled connection: a write past its deadline would
		// fail and cost the pool a healthy connection.
		return nil, errDeadlinePassed
	}
	cn, err := get(c, deadline)
	if err != nil {
		return nil, err
	}
	vals, retry, err := exchange(c, cn, deadline, cmds)
	if err == nil {
		cn.used = true
		put(c, cn)
		return vals, nil
	}
	if !retry {
		discard(c, cn)
		return nil, err
	}
	// The place in the pool stays taken: close the stale connection and
	// dial another in it.
	_ = cn.nc.Close()
	cn, err = dial(c, deadline)
	if err != nil {
		release(c)
		return nil, err
	}
	vals, _, err = exchange(c, cn, deadline, cmds)
	if err != nil {
		discard(c, cn)
		return nil, err
	}
	cn.used = true
	put(c, cn)
	return vals, nil
}

// exchange writes cmds and reads one reply each. retry reports a failure
// of a reused connection before any reply byte, other than a timeout.
func exchange(c *Client, cn *conn, deadline time.Time, cmds [][]string) (vals []Value, retry bool, err error) {
	buf := cn.buf[:0]
	for _, cmd := range cmds {
		buf = appendCommand(buf, cmd)
	}
	if cap(buf) <= 64<<10 {
		cn.buf = buf
	}
	now := time.Now()
	if err := cn.nc.SetWriteDeadline(earlier(deadline, now.Add(c.writeTimeout))); err != nil {
		return nil, false, unavailable(cn, "write", err)
	}
	if _, err := cn.nc.Write(buf); err != nil {
		return nil, cn.used && !isTimeout(err), unavailable(cn, "write", err)
	}
	if err := cn.nc.SetReadDeadline(earlier(deadline, now.Add(c.readTimeout))); err != nil {
		return nil, false, unavailable(cn, "read", err)
	}
	rd := &reader{r: cn.r, secret: c.secret}
	vals = make([]Value, 0, len(cmds))
	for i := 0; i < len(cmds); i++ {
		v, err := readReply(rd)
		if err != nil {
			again := cn.used && !rd.started && rd.ioErr != nil && !isTimeout(rd.ioErr)
			return nil, again, fmt.Errorf("%w (%s)", err, cn.addr)
		}
		vals = append(vals, v)
	}
	return vals, false, nil
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func unavailable(cn *conn, op string, err error) error {
	return fmt.Errorf("%w: %s %s: %v", ErrUnavailable, op, cn.addr, err)
}

// get takes an idle connection, or a place to dial one, or waits for
// either until deadline.
func get(c *Client, deadline time.Time) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errClosed
	}
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	if c.open < c.size {
		c.open++
		c.mu.Unlock()
		return dialInPlace(c, deadline)
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		c.mu.Unlock()
		return nil, poolExhausted(c)
	}
	w := &waiter{ch: make(chan grant, 1)}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	// A timer and a plain goroutine, not time.AfterFunc with a closure,
	// and no select: Yaegi v0.16.1 builds the wrapper of an interpreted
	// function handed to compiled code lazily (racing on its first
	// concurrent uses) and shares a select's cases between goroutines.
	timer := time.NewTimer(wait)
	go expireAt(c, w, timer.C)
	// g is never assigned again: Yaegi v0.16.1 panics ("reflect.Value.Set
	// using unaddressable value") on any assignment to a variable that
	// took a single-value receive (x := <-ch or x = <-ch).
	g := <-w.ch
	timer.Reset(0) // ends expireAt now; w is settled, so it does nothing
	if !g.ok {
		return nil, poolExhausted(c)
	}
	if g.cn != nil {
		return g.cn, nil
	}
	return dialInPlace(c, deadline)
}

var (
	errClosed         = fmt.Errorf("%w: client closed", ErrUnavailable)
	errDeadlinePassed = fmt.Errorf("%w: deadline passed before the command was sent", ErrUnavailable)
)

func poolExhausted(c *Client) error {
	if isClosed(c) {
		return errClosed
	}
	return fmt.Errorf("%w: all %d connections busy until the deadline", ErrUnavailable, c.size)
}

func isClosed(c *Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// dialInPlace dials into a place already counted in c.open, and frees the
// place if that fails.
func dialInPlace(c *Client, deadline time.Time) (*conn, error) {
	cn, err := dial(c, deadline)
	if err != nil {
		release(c)
		return nil, err
	}
	return cn, nil
}

// expireAt ends w's wait when fired delivers, unless a release came first.
func expireAt(c *Client, w *waiter, fired <-chan time.Time) {
	<-fired
	c.mu.Lock()
	if !w.done {
		w.done = true
		removeWaiter(c, w)
		w.ch <- grant{}
	}
	c.mu.Unlock()
}

func removeWaiter(c *Client, w *waiter) {
	for i, q := range c.waiters {
		if q == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return
		}
	}
}

// nextWaiterLocked takes the first waiter off the line, or nil.
func nextWaiterLocked(c *Client) *waiter {
	if len(c.waiters) == 0 {
		return nil
	}
	w := c.waiters[0]
	c.waiters[0] = nil
	c.waiters = c.waiters[1:]
	w.done = true
	return w
}

// put gives a healthy connection back: to the first waiter, else to the
// idle list.
func put(c *Client, cn *conn) {
	c.mu.Lock()
	if c.closed {
		c.open--
		c.mu.Unlock()
		_ = cn.nc.Close()
		return
	}
	if w := nextWaiterLocked(c); w != nil {
		w.ch <- grant{cn: cn, ok: true}
		c.mu.Unlock()
		return
	}
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// discard closes a connection that failed and frees its place.
func discard(c *Client, cn *conn) {
	_ = cn.nc.Close()
	release(c)
}

// release frees a place in the pool: the first waiter gets it to dial.
func release(c *Client) {
	c.mu.Lock()
	if !c.closed {
		if w := nextWaiterLocked(c); w != nil {
			w.ch <- grant{ok: true}
			c.mu.Unlock()
			return
		}
	}
	c.open--
	c.mu.Unlock()
}

// Close closes the idle connections and makes every later command fail
// (ErrUnavailable); a connection in use is closed when its command ends,
// a command waiting for one fails now.
func Close(c *Client) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.open -= len(idle)
	for _, w := range c.waiters {
		w.done = true
		w.ch <- grant{}
	}
	c.waiters = nil
	c.mu.Unlock()
	for _, cn := range idle {
		_ = cn.nc.Close()
	}
}
