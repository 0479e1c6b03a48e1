package redis

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPublishSubscribe(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{KeyPrefix: "al:"})
	logout, other := Key(c, "logout"), Key(c, "other")
	sub, err := Subscribe(c, soon(), logout, other)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseSubscription(sub)

	// Nothing published: ErrNoMessage by the deadline, and the
	// subscription stays usable.
	start := time.Now()
	if _, _, err := Next(sub, start.Add(100*time.Millisecond)); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("Next with nothing published: %v", err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("Next waited %v for a 100ms deadline", waited)
	}

	payload := "token-hash\r\nwith\x00binary"
	if v := must(t, c, "PUBLISH", logout, payload); v.Int != 1 {
		t.Fatalf("PUBLISH reached %d subscribers", v.Int)
	}
	must(t, c, "PUBLISH", Key(c, "unrelated"), "x")
	must(t, c, "PUBLISH", other, "second")
	ch, got, err := Next(sub, soon())
	if err != nil || ch != logout || got != payload {
		t.Fatalf("first message: %q %q %v", ch, got, err)
	}
	ch, got, err = Next(sub, soon())
	if err != nil || ch != other || got != "second" {
		t.Fatalf("second message: %q %q %v", ch, got, err)
	}

	// A ping comes back as an empty channel and payload.
	if err := Ping(sub, soon()); err != nil {
		t.Fatal(err)
	}
	if ch, got, err := Next(sub, soon()); err != nil || ch != "" || got != "" {
		t.Fatalf("pong: %q %q %v", ch, got, err)
	}

	// The subscription's connection is its own: the pool still has one.
	if n := connectedClients(t, c); n != 2 {
		t.Fatalf("%d connections, want the pool's and the subscription's", n)
	}

	// Closed from another goroutine while Next waits: Next ends with
	// ErrUnavailable, and so does every later call.
	ended := make(chan error, 1)
	go func() {
		_, _, err := Next(sub, time.Now().Add(5*time.Second))
		ended <- err
	}()
	time.Sleep(50 * time.Millisecond)
	CloseSubscription(sub)
	if err := <-ended; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Next on a closed subscription: %v", err)
	}
	if _, _, err := Next(sub, soon()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Next after the end: %v", err)
	}
}

// TestSubscriberLoopSurvivesARestart is the caller's loop the package
// expects: Next until it fails, then Subscribe again (with a bounded
// number of tries here), then go on receiving.
func TestSubscriberLoopSurvivesARestart(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{DialTimeout: 500 * time.Millisecond})
	sub, err := Subscribe(c, soon(), "events")
	if err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if _, _, err := Next(sub, soon()); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoMessage) {
		t.Fatalf("Next when the server died: %v", err)
	}
	if _, err := Subscribe(c, soon(), "events"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Subscribe while the server is down: %v", err)
	}
	s.Restart()
	var again *Subscription
	for i := 0; i < 20 && again == nil; i++ {
		again, err = Subscribe(c, soon(), "events")
		if err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if again == nil {
		t.Fatalf("no subscription after the restart: %v", err)
	}
	defer CloseSubscription(again)
	must(t, c, "PUBLISH", "events", "back")
	if ch, got, err := Next(again, soon()); err != nil || ch != "events" || got != "back" {
		t.Fatalf("after the restart: %q %q %v", ch, got, err)
	}
}

// TestSubscriptionOnAStoppedServer: a paused server shows as no pong
// before the caller's limit (TCP alone would not say so).
func TestSubscriptionOnAStoppedServer(t *testing.T) {
	s := startRedis(t)
	c := serverClient(t, s, Options{})
	sub, err := Subscribe(c, soon(), "events")
	if err != nil {
		t.Fatal(err)
	}
	defer CloseSubscription(sub)
	s.Signal("STOP")
	defer func() {
		if s.Stopped() {
			s.Signal("CONT")
		}
	}()
	if err := Ping(sub, soon()); err != nil {
		t.Fatalf("Ping (a write the kernel takes): %v", err)
	}
	if _, _, err := Next(sub, time.Now().Add(200*time.Millisecond)); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("Next on a paused server: %v", err)
	}
	s.Signal("CONT")
	if ch, _, err := Next(sub, soon()); err != nil || ch != "" {
		t.Fatalf("the pong after SIGCONT: %q %v", ch, err)
	}
}

func TestSubscribeRefusals(t *testing.T) {
	s := startRedis(t)
	admin := serverClient(t, s, Options{})
	must(t, admin, "ACL", "SETUSER", "app", "on", ">app-pass-3141", "~app:*", "&app:*", "+@all")
	c := serverClient(t, s, Options{Username: "app", Password: "app-pass-3141"})
	if _, err := Subscribe(c, soon(), "app:ok", "elsewhere"); !errors.Is(err, ErrAuth) {
		t.Fatalf("a channel outside the ACL: %v", err)
	}
	if _, err := Subscribe(c, soon()); err == nil {
		t.Fatal("Subscribe without a channel")
	}
	if _, err := Subscribe(c, soon(), "app:a", ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("an empty channel name: %v", err)
	}
	sub, err := Subscribe(c, soon(), "app:ok")
	if err != nil {
		t.Fatal(err)
	}
	CloseSubscription(sub)
}
