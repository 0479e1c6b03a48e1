package devstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Cluster mode's Redis, as the demo runs it: one ACL user confined to the
// key prefix, the default user off.
const (
	// RedisUser is the ACL user authlayer logs in as
	// (cluster.redis.username).
	RedisUser = "authlayer"
	// KeyPrefix is cluster.keyPrefix, authlayer's default: every key and
	// channel authlayer uses starts with it.
	KeyPrefix = "authlayer:"
)

// RedisACLRules are the rules of authlayer's Redis user after its name,
// "on" and its password: keys and channels under prefix only, and only the
// commands authlayer sends (AUTH, HELLO, SELECT, PING; GET, SET, DEL,
// PEXPIRE; PUBLISH, SUBSCRIBE, UNSUBSCRIBE; SCAN; EVAL, EVALSHA, SCRIPT
// LOAD) or its scripts call (TIME: the rate-limit script runs on Redis's
// clock; a script's calls are checked against the ACL too). Checked
// against redis-server 7.0 (TestRedisACL), and against the plugin's
// source (TestRedisACLCoversThePlugin).
func RedisACLRules(prefix string) string {
	return "resetkeys ~" + prefix + "* resetchannels &" + prefix + "* -@all " +
		"+auth +hello +select +ping +time +get +mget +set +del +pexpire +publish +subscribe +unsubscribe +scan +eval +evalsha +script|load"
}

// RedisACLFile is an ACL file: the default user off, and user with
// password and RedisACLRules(prefix). A password with a space cannot be
// written in an ACL file.
func RedisACLFile(user, password, prefix string) (string, error) {
	if password == "" || strings.ContainsAny(password, " \t\r\n") {
		return "", errors.New("redis: the password must be non-empty, without spaces")
	}
	return "user default off\nuser " + user + " on >" + password + " " + RedisACLRules(prefix) + "\n", nil
}

// RandomSecret returns n random bytes, hex-encoded.
func RandomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// RedisDirs are the files WriteRedisConfig lays out under one directory,
// also Redis's working directory.
type RedisDirs struct {
	Root     string // working directory
	Config   string // redis.conf
	ACL      string // users.acl
	Password string // the user's password, alone (for REDISCLI_AUTH)
}

// WriteRedisConfig writes, under dir, a configuration for a Redis on addr
// (a loopback "host:port") that keeps nothing on disk, with the ACL file
// of RedisACLFile and the password in a file of its own, all readable by
// the owner only.
func WriteRedisConfig(dir, addr, user, password, prefix string) (RedisDirs, error) {
	d := RedisDirs{
		Root:     dir,
		Config:   filepath.Join(dir, "redis.conf"),
		ACL:      filepath.Join(dir, "users.acl"),
		Password: filepath.Join(dir, "redis-password"),
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return d, fmt.Errorf("redis address %q: %w", addr, err)
	}
	acl, err := RedisACLFile(user, password, prefix)
	if err != nil {
		return d, err
	}
	conf := strings.Join([]string{
		"bind " + host,
		"port " + port,
		"protected-mode yes",
		`save ""`,
		"appendonly no",
		"loglevel warning",
		"dir " + strconv.Quote(dir),
		"aclfile " + strconv.Quote(d.ACL),
		"",
	}, "\n")
	for path, content := range map[string]string{d.Config: conf, d.ACL: acl, d.Password: password + "\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return d, err
		}
	}
	return d, nil
}

// RunRedis runs redis-server (bin) with the configuration in d until ctx
// is done (then it is sent an interrupt, and killed if it has not stopped
// within 10 seconds) or it exits on its own. Its output goes to out. It
// runs in a process group of its own: a Ctrl-C at the terminal does not
// reach it, the caller stops it when the replicas are gone.
func RunRedis(ctx context.Context, bin string, d RedisDirs, out io.Writer) error {
	//nolint:gosec // G204: running the redis-server the developer chose is the point
	cmd := exec.CommandContext(ctx, bin, d.Config)
	cmd.Dir = d.Root
	detach(cmd)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Start()
	if err == nil {
		if err = cmd.Wait(); err == nil {
			err = errors.New("redis-server exited")
		} else {
			err = fmt.Errorf("redis-server: %w", err)
		}
	}
	select {
	case <-ctx.Done():
		return nil
	default:
		return err
	}
}

// RedisVersion runs `<bin> --version` and returns the version ("7.0.15").
func RedisVersion(bin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	//nolint:gosec // G204: the developer's redis-server
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v, nil
		}
	}
	return strings.TrimSpace(string(out)), nil
}

// RedisCommand sends one command to the Redis at addr as user (AUTH
// first when password is set) and returns its reply: a string for a
// simple or bulk string, an int64, nil, a []interface{} for an array, or
// an error for an error reply (a *RedisError). Enough for the demo's
// readiness check and its tests; authlayer has its own client.
func RedisCommand(ctx context.Context, addr, user, password string, args ...string) (interface{}, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReader(conn)
	if password != "" {
		auth := []string{"AUTH", password}
		if user != "" {
			auth = []string{"AUTH", user, password}
		}
		if _, err := conn.Write(respCommand(auth)); err != nil {
			return nil, err
		}
		reply, err := readReply(r, 0)
		if err != nil {
			return nil, err
		}
		if e, ok := reply.(error); ok {
			return nil, e
		}
	}
	if _, err := conn.Write(respCommand(args)); err != nil {
		return nil, err
	}
	reply, err := readReply(r, 0)
	if err != nil {
		return nil, err
	}
	if e, ok := reply.(error); ok {
		return nil, e
	}
	return reply, nil
}

// RedisError is an error reply.
type RedisError struct{ Text string }

func (e *RedisError) Error() string { return "redis: " + e.Text }

func respCommand(args []string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// readReply reads one RESP2 reply; nesting and sizes are bounded.
func readReply(r *bufio.Reader, depth int) (interface{}, error) {
	if depth > 8 {
		return nil, errors.New("redis: reply nested too deep")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redis: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return &RedisError{Text: body}, nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1<<20 {
			return nil, fmt.Errorf("redis: bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1<<16 {
			return nil, fmt.Errorf("redis: array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]interface{}, n)
		for i := range out {
			if out[i], err = readReply(r, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line[:1])
}

// WaitRedis waits until the Redis at addr answers PING as user, ctx ends,
// errc delivers an error (the server exited), or timeout passes.
func WaitRedis(ctx context.Context, addr, user, password string, timeout time.Duration, errc chan error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		reply, err := RedisCommand(ctx, addr, user, password, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			errc <- err
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis on %s did not answer within %s (%v)", addr, timeout, last)
}

// RedisKeys returns every key the user may SCAN for (all of them: SCAN
// is not confined by key patterns), at most limit.
func RedisKeys(ctx context.Context, addr, user, password string, limit int) ([]string, error) {
	var keys []string
	cursor := "0"
	for i := 0; i < 10000; i++ {
		reply, err := RedisCommand(ctx, addr, user, password, "SCAN", cursor, "COUNT", "1000")
		if err != nil {
			return nil, err
		}
		arr, ok := reply.([]interface{})
		if !ok || len(arr) != 2 {
			return nil, fmt.Errorf("redis: SCAN replied %#v", reply)
		}
		next, _ := arr[0].(string)
		batch, _ := arr[1].([]interface{})
		for _, k := range batch {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
		if next == "0" || next == "" || len(keys) >= limit {
			return keys, nil
		}
		cursor = next
	}
	return keys, nil
}

// DebianRedis is where Debian's redis-server package installs the server.
const DebianRedis = "/usr/bin/redis-server"

// FindRedis returns the redis-server to run: explicit if set, else
// redis-server on PATH, else DebianRedis if it is there.
func FindRedis(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if st, err := os.Stat(DebianRedis); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return DebianRedis, nil
	}
	return "", errors.New("no redis-server: install one (Debian, Ubuntu: apt-get install redis-server) or pass -redis-server /path/to/redis-server")
}
