package redis

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// dial connects to the first address that answers, starting with the one
// that answered last, and runs the handshake (TLS, AUTH, SELECT), all
// within DialTimeout and deadline. A refused AUTH is ErrServer and
// ErrAuth; the rest is ErrUnavailable.
func dial(c *Client, deadline time.Time) (*conn, error) {
	deadline = earlier(deadline, time.Now().Add(c.dialTimeout))
	c.mu.Lock()
	first := c.preferred
	c.mu.Unlock()
	var lastErr error
	for i := 0; i < len(c.addrs); i++ {
		idx := (first + i) % len(c.addrs)
		if !time.Now().Before(deadline) {
			break
		}
		cn, err := dialAddress(c, idx, deadline)
		if err == nil {
			c.mu.Lock()
			c.preferred = idx
			c.mu.Unlock()
			return cn, nil
		}
		if errors.Is(err, ErrServer) {
			// The server answered and refused: another address of the
			// same server would refuse too.
			return nil, err
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("%w: dial: deadline passed", ErrUnavailable)
	}
	return nil, lastErr
}

// dialAddress opens one connection to c.addrs[idx] and runs the handshake.
func dialAddress(c *Client, idx int, deadline time.Time) (*conn, error) {
	addr := c.addrs[idx]
	d := net.Dialer{Deadline: deadline}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if c.tlsConfigs != nil {
		tc := tls.Client(nc, c.tlsConfigs[idx])
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("%w: TLS handshake with %s: %v", ErrUnavailable, addr, err)
		}
		nc = tc
	}
	cn := &conn{nc: nc, addr: addr, r: bufio.NewReaderSize(nc, lineSize)}
	if err := handshake(c, cn, deadline); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return cn, nil
}

// handshake sends AUTH and SELECT in one write and checks their replies.
func handshake(c *Client, cn *conn, deadline time.Time) error {
	if c.handshakeN == 0 {
		return nil
	}
	if err := cn.nc.SetDeadline(deadline); err != nil {
		return unavailable(cn, "handshake", err)
	}
	if _, err := cn.nc.Write(c.handshake); err != nil {
		return unavailable(cn, "handshake", err)
	}
	rd := &reader{r: cn.r, secret: c.secret}
	var refused error
	for i := 0; i < c.handshakeN; i++ {
		v, err := readReply(rd)
		if err != nil {
			return fmt.Errorf("%w (handshake with %s)", err, cn.addr)
		}
		if v.Kind == KindError && refused == nil {
			// The first refusal says why (a refused AUTH makes SELECT
			// answer NOAUTH).
			refused = fmt.Errorf("%w (handshake with %s)", Err(v), cn.addr)
		}
	}
	return refused
}
