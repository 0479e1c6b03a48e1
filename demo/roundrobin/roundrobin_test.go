package roundrobin

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// replica is a loopback server that answers with its name and what it
// saw of the request.
func replica(t *testing.T, name string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Name", name)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Seen-XFH", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("X-Seen-Cookie", r.Header.Get("Cookie"))
		_, _ = io.WriteString(w, name+" "+r.Method+" "+r.URL.RequestURI())
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// TestAlternates: requests go to replica 1, 2, 1, 2, ...; each answer says
// which in X-Demo-Replica; the client's Host, path, query and cookies go
// through, X-Forwarded-For is the connection's (a client copy dropped).
func TestAlternates(t *testing.T) {
	h, err := New([]*url.URL{replica(t, "one"), replica(t, "two")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/a/b?c=d", nil)
		req.Host = "demo.example"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("Cookie", "userToken=t")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantName, wantHeader := "one", "1"
		if i%2 == 1 {
			wantName, wantHeader = "two", "2"
		}
		if got := resp.Header.Get(Header); got != wantHeader || resp.Header.Get("X-Name") != wantName {
			t.Errorf("request %d: %s %q from %s, want %s from %s", i, Header, got, resp.Header.Get("X-Name"), wantHeader, wantName)
		}
		if string(body) != wantName+" GET /a/b?c=d" {
			t.Errorf("request %d: body %q", i, body)
		}
		if resp.Header.Get("X-Seen-Host") != "demo.example" || resp.Header.Get("X-Seen-XFH") != "demo.example" {
			t.Errorf("request %d: the replica saw Host %q, X-Forwarded-Host %q, want demo.example", i, resp.Header.Get("X-Seen-Host"), resp.Header.Get("X-Seen-XFH"))
		}
		if xff := resp.Header.Get("X-Seen-XFF"); xff != "127.0.0.1" {
			t.Errorf("request %d: X-Forwarded-For %q, want the connection's 127.0.0.1 only", i, xff)
		}
		if resp.Header.Get("X-Seen-Cookie") != "userToken=t" {
			t.Errorf("request %d: the cookie did not go through", i)
		}
	}
}

// TestUnreachableReplica: a replica that does not answer gives a 502 that
// says which one, and the next request goes to the other.
func TestUnreachableReplica(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	var logs strings.Builder
	h, err := New([]*url.URL{dead, replica(t, "two")}, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		status  int
		replica string
	}{{http.StatusBadGateway, "1"}, {http.StatusOK, "2"}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x?token=secret", nil))
		if rec.Code != want.status || rec.Header().Get(Header) != want.replica {
			t.Errorf("request %d: %d from replica %q, want %d from %s", i, rec.Code, rec.Header().Get(Header), want.status, want.replica)
		}
	}
	if !strings.Contains(logs.String(), "replica 1") || strings.Contains(logs.String(), "secret") {
		t.Errorf("log %q: want replica 1 named, and no query", logs.String())
	}
}

func TestNewAndParseReplicasErrors(t *testing.T) {
	if _, err := New(nil, nil); err == nil {
		t.Error("New without replicas: no error")
	}
	if _, err := New([]*url.URL{{Path: "/x"}}, nil); err == nil {
		t.Error("New with a relative URL: no error")
	}
	got, err := ParseReplicas(" http://traefik-1:8080, http://traefik-2:8080 ,")
	if err != nil || len(got) != 2 || got[0].Host != "traefik-1:8080" || got[1].Host != "traefik-2:8080" {
		t.Errorf("ParseReplicas = %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "traefik-1:8080", "ftp://x", "http://"} {
		if _, err := ParseReplicas(bad); err == nil {
			t.Errorf("ParseReplicas(%q): no error", bad)
		}
	}
}

func testLogger(w io.Writer) *log.Logger { return log.New(w, "", 0) }
