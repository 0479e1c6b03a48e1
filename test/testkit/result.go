package testkit

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Result is what the client got, and what the upstream received.
type Result struct {
	Code     int
	Header   http.Header
	Body     string
	Cookies  []*http.Cookie
	Upstream http.Header   // nil when the upstream was not called
	Elapsed  time.Duration // the round trip, where a suite times it (e2e)
}

// bodyLimit bounds the response body a Result holds.
const bodyLimit = 1 << 20

// ReadResult reads resp (body up to 1 MiB) into a Result; the caller sets
// Upstream and closes resp.Body.
func ReadResult(resp *http.Response) (*Result, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return &Result{
		Code:    resp.StatusCode,
		Header:  resp.Header,
		Body:    string(body),
		Cookies: resp.Cookies(),
	}, nil
}

// SetCookies returns the Set-Cookie entries named name.
func (r *Result) SetCookies(name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.Cookies {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// AsyncResult is the outcome of a request sent from a goroutine.
type AsyncResult struct {
	Res *Result
	Err error
}

// Collect waits, at most bound in all, for n results on results; an
// error or the bound fails the test.
func Collect(t testing.TB, results <-chan AsyncResult, n int, bound time.Duration) []*Result {
	t.Helper()
	out := make([]*Result, 0, n)
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for i := 0; i < n; i++ {
		select {
		case ar := <-results:
			if ar.Err != nil {
				t.Fatalf("burst request %d: %v", i, ar.Err)
			}
			out = append(out, ar.Res)
		case <-deadline.C:
			t.Fatalf("burst: %d of %d responses within %v", i, n, bound)
		}
	}
	return out
}

// Fingerprint sums up what a client and the upstream saw (status, body,
// Set-Cookie, the upstream's identity headers), to compare the responses
// of a burst.
func Fingerprint(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d body %q set-cookie %q", r.Code, r.Body, r.Header.Values("Set-Cookie"))
	if r.Upstream != nil {
		ids := IdentityValues(r.Upstream, IdentityHeaders)
		for _, n := range IdentityHeaders {
			fmt.Fprintf(&b, " %s=%q", n, ids[n])
		}
	}
	return b.String()
}
