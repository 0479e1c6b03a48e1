package browser_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// traffic records what the page receives, through the DevTools protocol's
// network events: every response's body (fetched as soon as it has
// loaded), and every token the server put in a cookie (read from the raw
// Set-Cookie headers, redirects included, so that a token set and
// replaced between two looks at the cookie jar is known too).
type traffic struct {
	mu        sync.Mutex
	exchanges map[network.RequestID]*exchange
	tokens    map[string]string // token value -> the cookie that held it
	queue     chan network.RequestID
	queued    int
	done      int
	closed    bool
	overflow  int
	worker    sync.WaitGroup
}

// exchange is one request and its response, as the page saw it.
type exchange struct {
	method, url, mime string
	status            int64
	body              string
	gotBody           bool
	bodyErr           string
}

func (e *exchange) String() string {
	return fmt.Sprintf("%s %s -> %d %s", e.method, e.url, e.status, e.mime)
}

// tokenCookies are the cookies holding tokens: never readable by the page.
var tokenCookies = map[string]bool{userCookie: true, guestCookie: true, refreshCookie: true}

// jwtShaped matches a compact JWS.
var jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`)

// recordTraffic starts recording the tab of s.
func recordTraffic(s *session) *traffic {
	s.t.Helper()
	tr := &traffic{
		exchanges: map[network.RequestID]*exchange{},
		tokens:    map[string]string{},
		queue:     make(chan network.RequestID, 4096),
	}
	err := chromedp.Listen(s.ctx, func(ev any) {
		// The tab's message loop calls this: it returns fast and runs no
		// command; bodies are fetched by the worker.
		tr.mu.Lock()
		defer tr.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			tr.exchange(ev.RequestID).method = ev.Request.Method
			tr.exchange(ev.RequestID).url = ev.Request.URL
		case *network.EventResponseReceived:
			e := tr.exchange(ev.RequestID)
			e.url, e.status, e.mime = ev.Response.URL, ev.Response.Status, ev.Response.MimeType
		case *network.EventResponseReceivedExtraInfo:
			tr.noteSetCookies(ev.Headers)
		case *network.EventLoadingFinished:
			if tr.closed {
				return
			}
			select {
			case tr.queue <- ev.RequestID:
				tr.queued++
			default:
				tr.overflow++
			}
		}
	})
	if err != nil {
		s.t.Fatalf("listening to the tab's network events: %v", err)
	}
	tr.worker.Add(1)
	go func() {
		defer tr.worker.Done()
		for id := range tr.queue {
			tr.fetchBody(s.ctx, id)
		}
	}()
	s.t.Cleanup(tr.stop)
	return tr
}

// exchange returns the record of id, made on first use; mu is held.
func (tr *traffic) exchange(id network.RequestID) *exchange {
	e := tr.exchanges[id]
	if e == nil {
		e = &exchange{}
		tr.exchanges[id] = e
	}
	return e
}

// noteSetCookies remembers the values of the token cookies a response
// set; mu is held.
func (tr *traffic) noteSetCookies(h network.Headers) {
	for k, v := range h {
		text, ok := v.(string)
		if !ok || !strings.EqualFold(k, "Set-Cookie") {
			continue
		}
		for _, line := range strings.Split(text, "\n") {
			nameValue, _, _ := strings.Cut(line, ";")
			name, value, ok := strings.Cut(strings.TrimSpace(nameValue), "=")
			if ok && tokenCookies[name] && value != "" {
				tr.tokens[value] = name
			}
		}
	}
}

// fetchBody reads the body of a finished response.
func (tr *traffic) fetchBody(ctx context.Context, id network.RequestID) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (network.GetResponseBodyResult, error) {
		return cdp.Call(ctx, t, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
	})
	tr.mu.Lock()
	defer tr.mu.Unlock()
	e := tr.exchange(id)
	if err != nil {
		e.bodyErr = err.Error()
	} else {
		e.body, e.gotBody = string(res.Body), true
	}
	tr.done++
}

// waitBody waits (5 s at most) until a response with status to method on
// a URL ending in path has had its body read, or failed to.
func (tr *traffic) waitBody(t *testing.T, method, path string, status int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		for _, e := range tr.exchanges {
			if e.method == method && e.status == status && strings.HasSuffix(e.url, path) && (e.gotBody || e.bodyErr != "") {
				tr.mu.Unlock()
				return
			}
		}
		tr.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("no body read for %s %s within 5s", method, path)
}

// settle waits until every finished response's body has been read.
func (tr *traffic) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		idle := tr.done == tr.queued
		tr.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the response bodies were not all read within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the recording and waits for the worker.
func (tr *traffic) stop() {
	tr.mu.Lock()
	if !tr.closed {
		tr.closed = true
		close(tr.queue)
	}
	tr.mu.Unlock()
	tr.worker.Wait()
}

// noteTokens adds token values read from the browser's cookie jar.
func (tr *traffic) noteTokens(cookies map[string]*network.Cookie) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for name := range tokenCookies {
		if c := cookies[name]; c != nil && c.Value != "" {
			tr.tokens[c.Value] = name
		}
	}
}

// knownTokens returns every token value seen so far.
func (tr *traffic) knownTokens() map[string]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string]string, len(tr.tokens))
	for k, v := range tr.tokens {
		out[k] = v
	}
	return out
}

// bodies returns the exchanges whose body was read, in no order.
func (tr *traffic) bodies() []exchange {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []exchange
	for _, e := range tr.exchanges {
		if e.gotBody {
			out = append(out, *e)
		}
	}
	return out
}

// unread lists the responses whose body could not be read (a redirect has
// none), for the log.
func (tr *traffic) unread() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, e := range tr.exchanges {
		if !e.gotBody && e.bodyErr != "" {
			out = append(out, e.String()+": "+e.bodyErr)
		}
	}
	sort.Strings(out)
	return out
}

// tokenIn names the token body holds, or "" when it holds none: a value
// from tokens, or anything shaped like a JWT.
func tokenIn(body string, tokens map[string]string) string {
	for value, cookie := range tokens {
		if strings.Contains(body, value) {
			return "the " + cookie + " cookie's token"
		}
	}
	if m := jwtShaped.FindString(body); m != "" {
		return "a JWT (" + m[:min(len(m), 24)] + "…)"
	}
	return ""
}

// jwtExp reads a JWT's exp claim (its signature is not this test's
// business: authlayer and the backend check it).
func jwtExp(t *testing.T, token string) int64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("a token cookie holds no JWT (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("a token's payload: %v", err)
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Exp == 0 {
		t.Fatalf("a token without exp: %v", err)
	}
	return c.Exp
}

// TestTokenIn checks the leak detector itself, without a browser.
func TestTokenIn(t *testing.T) {
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJl"
	tokens := map[string]string{"opaque-token-value": refreshCookie}
	for body, want := range map[string]string{
		`{"success":true,"data":{"name":"Alice"}}`:               "",
		`<p>exp 1790000000, jti 0123abcd</p>`:                    "",
		`{"accessToken":"` + jwt + `"}`:                          "a JWT",
		`<code>` + jwt + `</code>`:                               "a JWT",
		`{"refresh":"opaque-token-value"}`:                       "the refreshToken cookie's token",
		`eyJhbGciOiJFZERTQSJ9 alone is only a header, not a JWT`: "",
	} {
		if got := tokenIn(body, tokens); !strings.HasPrefix(got, want) || (want == "" && got != "") {
			t.Errorf("tokenIn(%q) = %q, want %q", body, got, want)
		}
	}
}
