package redis

import (
	"errors"
	"fmt"
	"time"
)

// Subscription is one connection subscribed to channels (SUBSCRIBE), its
// own, outside the pool. Make it with Subscribe; read it with Next.
//
// Nothing in the package reads it in the background or reconnects it:
// the caller's loop does, calling Next until it fails, then Subscribe
// again (with a backoff of its choosing), then reading whatever state it
// keeps in Redis, since messages published while no subscription was
// listening are lost (pub/sub has no history). Why the caller's loop:
// a goroutine started here would outlive the plugin instance that made it
// unless told to stop, and Traefik never tells a plugin instance that it
// was replaced; the caller owns that lifetime (and its logs about
// degrading and recovering). A callback per message would hand
// interpreted code to a goroutine of the package, which Yaegi v0.16.1
// handles badly, and every wait in the package is a plain read with a
// deadline, never a select.
//
// Next is for one goroutine at a time; Ping and CloseSubscription may be
// called from another (a net.Conn takes one reader and one writer at
// once, and Close at any time).
type Subscription struct {
	c      *Client
	cn     *conn
	broken bool // the connection failed or lost its place in the stream; Next's alone
}

// maxSkipped bounds the confirmations Next reads past in one call.
const maxSkipped = 64

// errSubscriptionBroken is what Next returns after its connection failed.
var errSubscriptionBroken = fmt.Errorf("%w: subscription connection closed", ErrUnavailable)

// Subscribe dials a connection (handshake included), subscribes it to
// channels (names as they are: use Key for the prefix) and reads the
// server's confirmations, all by deadline (a zero deadline: the dial,
// write and read timeouts). A channel the user may not use is refused
// with ErrAuth (NOPERM).
func Subscribe(c *Client, deadline time.Time, channels ...string) (*Subscription, error) {
	if len(channels) == 0 {
		return nil, errors.New("redis: Subscribe needs a channel")
	}
	for _, ch := range channels {
		if ch == "" {
			return nil, errors.New("redis: Subscribe: empty channel name")
		}
	}
	if isClosed(c) {
		return nil, errClosed
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(c.dialTimeout + c.writeTimeout + c.readTimeout)
	}
	cn, err := dial(c, deadline)
	if err != nil {
		return nil, err
	}
	if err := confirmSubscribe(c, cn, deadline, channels); err != nil {
		_ = cn.nc.Close()
		return nil, err
	}
	return &Subscription{c: c, cn: cn}, nil
}

// confirmSubscribe sends SUBSCRIBE and reads one confirmation per
// channel: Redis answers the whole command before any message.
func confirmSubscribe(c *Client, cn *conn, deadline time.Time, channels []string) error {
	args := append([]string{"SUBSCRIBE"}, channels...)
	now := time.Now()
	if err := cn.nc.SetWriteDeadline(earlier(deadline, now.Add(c.writeTimeout))); err != nil {
		return unavailable(cn, "subscribe", err)
	}
	if _, err := cn.nc.Write(appendCommand(nil, args)); err != nil {
		return unavailable(cn, "subscribe", err)
	}
	if err := cn.nc.SetReadDeadline(earlier(deadline, now.Add(c.readTimeout))); err != nil {
		return unavailable(cn, "subscribe", err)
	}
	rd := &reader{r: cn.r, secret: c.secret}
	for i := 0; i < len(channels); i++ {
		v, err := readReply(rd)
		if err != nil {
			return fmt.Errorf("%w (subscribe on %s)", err, cn.addr)
		}
		if v.Kind == KindError {
			return Err(v)
		}
		if kindOf(v) != "subscribe" || len(v.Array) != 3 || v.Array[1].Str != channels[i] {
			return protocolError("unexpected answer to SUBSCRIBE")
		}
	}
	return nil
}

// kindOf is the first element of a pub/sub push ("message", "pong",
// "subscribe", ...), or "" for anything else.
func kindOf(v Value) string {
	if v.Kind != KindArray || len(v.Array) < 2 || v.Array[0].Kind != KindBulk {
		return ""
	}
	return v.Array[0].Str
}

// Next waits until deadline for a message and returns its channel and
// payload. The answer to Ping comes back as an empty channel and payload
// (Subscribe refuses an empty channel name, so nothing else looks like
// it). When the deadline passes with nothing received, the error is
// ErrNoMessage and the subscription stays usable; any other error
// (ErrUnavailable: the connection failed, timed out in the middle of a
// message, or was closed) ends it: every later Next fails, and the
// caller subscribes again. A zero deadline waits ReadTimeout.
func Next(s *Subscription, deadline time.Time) (channel, payload string, err error) {
	if s.broken {
		return "", "", errSubscriptionBroken
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(s.c.readTimeout)
	}
	if err := s.cn.nc.SetReadDeadline(deadline); err != nil {
		return "", "", endSubscription(s, unavailable(s.cn, "read", err))
	}
	for i := 0; i < maxSkipped; i++ {
		rd := &reader{r: s.cn.r, secret: s.c.secret}
		v, err := readReply(rd)
		if err != nil {
			if !rd.started && rd.ioErr != nil && isTimeout(rd.ioErr) {
				return "", "", ErrNoMessage
			}
			return "", "", endSubscription(s, fmt.Errorf("%w (subscription on %s)", err, s.cn.addr))
		}
		if v.Kind == KindError {
			return "", "", Err(v)
		}
		kind := kindOf(v)
		if kind == "message" && len(v.Array) == 3 {
			return v.Array[1].Str, v.Array[2].Str, nil
		}
		if kind == "pong" {
			return "", "", nil
		}
		if kind == "" {
			return "", "", endSubscription(s, protocolError("unexpected push on a subscription"))
		}
		// A confirmation (subscribe, unsubscribe) or a kind this client
		// does not use: read on.
	}
	return "", "", ErrNoMessage
}

// endSubscription closes a subscription whose connection failed.
func endSubscription(s *Subscription, err error) error {
	s.broken = true
	_ = s.cn.nc.Close()
	return err
}

// pingCommand is PING, encoded once.
var pingCommand = appendCommand(nil, []string{"PING"})

// Ping asks the server for a pong on the subscription, which Next
// returns as an empty channel and payload: a caller that hears nothing
// back within its own limit knows the connection is dead even when TCP
// does not say so (a paused or partitioned server).
func Ping(s *Subscription, deadline time.Time) error {
	if deadline.IsZero() {
		deadline = time.Now().Add(s.c.writeTimeout)
	}
	if err := s.cn.nc.SetWriteDeadline(deadline); err != nil {
		return unavailable(s.cn, "ping", err)
	}
	if _, err := s.cn.nc.Write(pingCommand); err != nil {
		return unavailable(s.cn, "ping", err)
	}
	return nil
}

// CloseSubscription closes the subscription's connection; a Next waiting
// on it returns ErrUnavailable.
func CloseSubscription(s *Subscription) {
	_ = s.cn.nc.Close()
}
