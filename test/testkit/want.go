package testkit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
)

// The assertions report with t.Errorf, or with t.Fatalf where nothing
// after them would make sense; each takes testing.TB so that this
// package's own tests can run them against a recorder.

// ---- forwarding and identity ---------------------------------------------

// WantForwarded checks that the upstream answered the request.
func WantForwarded(t testing.TB, r *Result) {
	t.Helper()
	if r.Upstream == nil || r.Code != http.StatusOK || r.Body != UpstreamBody {
		t.Fatalf("got status %d body %q (upstream called: %v), want the request forwarded to the upstream",
			r.Code, r.Body, r.Upstream != nil)
	}
}

// WantNotForwarded checks that the upstream never saw the request.
func WantNotForwarded(t testing.TB, r *Result) {
	t.Helper()
	if r.Upstream != nil {
		t.Errorf("the upstream received the request (status %d), want it stopped by authlayer", r.Code)
	}
}

// NormHeader folds a header name as PHP, WSGI and nginx do: lower case,
// '_' and '.' as '-'.
func NormHeader(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// IdentityValues returns, for each header in names (by folded name), the
// values h holds under any alias spelling; an alias spelling is reported
// as one more value "(alias <key>)".
func IdentityValues(h http.Header, names []string) map[string][]string {
	want := map[string]string{}
	for _, n := range names {
		want[NormHeader(n)] = n
	}
	out := map[string][]string{}
	for k, vs := range h {
		if n, ok := want[NormHeader(k)]; ok {
			out[n] = append(out[n], vs...)
			if k != http.CanonicalHeaderKey(n) {
				out[n] = append(out[n], "(alias "+k+")")
			}
		}
	}
	return out
}

// WantAnonymous checks that the request was forwarded and the upstream got
// no identity header under any spelling.
func WantAnonymous(t testing.TB, r *Result) {
	t.Helper()
	WantForwarded(t, r)
	if got := IdentityValues(r.Upstream, IdentityHeaders); len(got) > 0 {
		t.Errorf("upstream identity headers: got %v, want none", got)
	}
}

// WantIdentity checks the upstream's identity headers: X-Auth-User is
// base64 of data's JSON, X-Auth-User-Id the id, X-Auth-Token-Type the type
// (wantType "" means no type header), Authorization Bearer token;
// X-Refreshed-Token is refreshed ("" means absent). No header may appear
// twice or under an alias spelling.
func WantIdentity(t testing.TB, r *Result, token string, data map[string]interface{}, wantID, wantType, refreshed string) {
	t.Helper()
	WantForwarded(t, r)
	got := IdentityValues(r.Upstream, IdentityHeaders)
	want := map[string][]string{
		HeaderUser:   nil, // compared as decoded JSON below
		HeaderUserID: {wantID},
		HeaderAuthz:  {"Bearer " + token},
	}
	if wantType != "" {
		want[HeaderTokenType] = []string{wantType}
	}
	if refreshed != "" {
		want[HeaderRefreshed] = []string{refreshed}
	}
	for _, n := range IdentityHeaders {
		w, expected := want[n]
		g := got[n]
		if !expected {
			if len(g) > 0 {
				t.Errorf("upstream %s: got %q, want absent", n, g)
			}
			continue
		}
		if n == HeaderUser {
			WantUserHeader(t, g, data)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("upstream %s: got %q, want %q", n, g, w)
		}
	}
}

// WantUserHeader checks X-Auth-User's values: exactly one, standard padded
// base64 of JSON equal (as JSON) to data.
func WantUserHeader(t testing.TB, values []string, data map[string]interface{}) {
	t.Helper()
	if len(values) != 1 {
		t.Errorf("upstream %s: got %q, want exactly one value", HeaderUser, values)
		return
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(values[0])
	if err != nil {
		t.Errorf("upstream %s: %q is not standard padded base64: %v", HeaderUser, values[0], err)
		return
	}
	var got interface{}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Errorf("upstream %s: decoded %q is not JSON: %v", HeaderUser, raw, err)
		return
	}
	wantJSON, _ := json.Marshal(data)
	var want interface{}
	_ = json.Unmarshal(wantJSON, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream %s: got JSON %s, want %s", HeaderUser, raw, wantJSON)
	}
}

// HeaderVerifiedBy is the header naming what verified a token locally
// (the JWT tests configure it).
const HeaderVerifiedBy = "X-Auth-Verified-By"

// WantVerifiedBy checks that the upstream got one X-Auth-Verified-By: want.
func WantVerifiedBy(t testing.TB, r *Result, want string) {
	t.Helper()
	if got := r.Upstream.Values(HeaderVerifiedBy); len(got) != 1 || got[0] != want {
		t.Errorf("upstream %s: got %q, want %q", HeaderVerifiedBy, got, want)
	}
}

// ---- cookies ---------------------------------------------------------------

// IsClearing says whether c deletes its cookie.
func IsClearing(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

// RawCookies returns the Set-Cookie lines of cs.
func RawCookies(cs []*http.Cookie) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

// WantCookieSet checks that the response sets name=value exactly once and
// does not also clear it, and returns that cookie.
func WantCookieSet(t testing.TB, r *Result, name, value string) *http.Cookie {
	t.Helper()
	cs := r.SetCookies(name)
	if len(cs) != 1 {
		t.Fatalf("Set-Cookie %s: got %d entries %q, want exactly 1 setting %q", name, len(cs), RawCookies(cs), value)
	}
	c := cs[0]
	if c.Value != value || IsClearing(c) {
		t.Fatalf("Set-Cookie %s: got %q (raw %q), want value %q, not expired", name, c.Value, c.Raw, value)
	}
	return c
}

// WantCookieCleared checks that the response deletes name, with an empty
// value.
func WantCookieCleared(t testing.TB, r *Result, name string) {
	t.Helper()
	cs := r.SetCookies(name)
	for _, c := range cs {
		if IsClearing(c) {
			if c.Value != "" {
				t.Errorf("Set-Cookie %s clears with value %q, want empty", name, c.Value)
			}
			return
		}
	}
	t.Errorf("Set-Cookie %s: got %q, want it cleared (Max-Age<=0 or Expires in the past)", name, RawCookies(cs))
}

// WantNoCookieClearing checks that no Set-Cookie deletes a cookie.
func WantNoCookieClearing(t testing.TB, r *Result) {
	t.Helper()
	for _, c := range r.Cookies {
		if IsClearing(c) {
			t.Errorf("Set-Cookie %q clears cookie %s, want cookies kept", c.Raw, c.Name)
		}
	}
}

// WantNoSetCookie checks that the response sets no cookie at all.
func WantNoSetCookie(t testing.TB, r *Result) {
	t.Helper()
	if v := r.Header.Values("Set-Cookie"); len(v) > 0 {
		t.Errorf("Set-Cookie: got %q, want none", v)
	}
}

// WantCookieAttrs checks HttpOnly, Path, SameSite=Lax, Max-Age and Secure.
func WantCookieAttrs(t testing.TB, c *http.Cookie, path string, maxAge int, secure bool) {
	t.Helper()
	if !c.HttpOnly {
		t.Errorf("cookie %s: HttpOnly missing (%q)", c.Name, c.Raw)
	}
	if c.Path != path {
		t.Errorf("cookie %s: Path got %q, want %q", c.Name, c.Path, path)
	}
	if c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %s: SameSite got %v, want Lax (%q)", c.Name, c.SameSite, c.Raw)
	}
	if c.MaxAge != maxAge {
		t.Errorf("cookie %s: Max-Age got %d, want %d (%q)", c.Name, c.MaxAge, maxAge, c.Raw)
	}
	if c.Secure != secure {
		t.Errorf("cookie %s: Secure got %v, want %v (%q)", c.Name, c.Secure, secure, c.Raw)
	}
}

// WantMintedGuest checks that the response sets a guest cookie holding a
// token be just minted, and that the upstream got that guest's identity
// (with X-Refreshed-Token); it returns the token.
func WantMintedGuest(t testing.TB, be *fakebackend.Backend, r *Result) string {
	t.Helper()
	cs := r.SetCookies(GuestCookie)
	if len(cs) != 1 || cs[0].Value == "" || IsClearing(cs[0]) {
		t.Fatalf("Set-Cookie %s: got %q, want one new guest token", GuestCookie, RawCookies(cs))
	}
	tok := cs[0].Value
	data, ok := be.Minted(tok)
	if !ok {
		t.Fatalf("Set-Cookie %s=%q: not a token the backend minted", GuestCookie, tok)
	}
	WantIdentity(t, r, tok, data, data["id"].(string), "guest", tok)
	return tok
}

// ---- answers ---------------------------------------------------------------

// WantNoStore checks Cache-Control: no-store.
func WantNoStore(t testing.TB, r *Result) {
	t.Helper()
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(strings.ToLower(cc), "no-store") {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
}

// WantJSONError checks a JSON error answer: status, Content-Type
// application/json, body {"success":false,"message":"…"}.
func WantJSONError(t testing.TB, r *Result, status int) {
	t.Helper()
	if r.Code != status {
		t.Errorf("status: got %d, want %d (body %q)", r.Code, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var body struct {
		Success *bool       `json:"success"`
		Message interface{} `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Errorf("body %q: not JSON: %v", r.Body, err)
		return
	}
	if body.Success == nil || *body.Success {
		t.Errorf("body %q: want \"success\": false", r.Body)
	}
	if s, ok := body.Message.(string); !ok || s == "" {
		t.Errorf("body %q: want a non-empty string \"message\"", r.Body)
	}
}

// WantExactJSON checks that body parses to the same JSON value as want.
func WantExactJSON(t testing.TB, body, want string) {
	t.Helper()
	var got, exp interface{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Errorf("body %q: not JSON: %v", body, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("body: got %s, want %s", body, want)
	}
}

// WantLoginRedirect checks a redirect with this status to /login carrying
// the original path and query, with no-store.
func WantLoginRedirect(t testing.TB, r *Result, status int, original string) {
	t.Helper()
	want := "/login?redirect=" + url.QueryEscape(original)
	if r.Code != status || r.Header.Get("Location") != want {
		t.Errorf("got %d Location %q, want %d Location %q", r.Code, r.Header.Get("Location"), status, want)
	}
	WantNoStore(t, r)
}

// CSRFFailBody is the answer to a request that fails the CSRF check.
const CSRFFailBody = `{"success":false,"message":"CSRF validation failed"}`

// WantCSRFRejected checks the 403 authlayer answers for a failed CSRF
// check, and that the app never saw the request.
func WantCSRFRejected(t testing.TB, r *Result) {
	t.Helper()
	WantNotForwarded(t, r)
	WantJSONError(t, r, http.StatusForbidden)
	WantExactJSON(t, r.Body, CSRFFailBody)
	WantNoStore(t, r)
}

// RateLimitedMessage is the message of the 429 answer.
const RateLimitedMessage = "Too many requests. Please try again later."

// WantRateLimited checks the 429 answer of a rate limit with a one-hour
// window: Retry-After, the exact JSON body carrying the same retryAfter,
// no-store, and nothing forwarded.
func WantRateLimited(t testing.TB, r *Result) {
	t.Helper()
	WantNotForwarded(t, r)
	if r.Code != http.StatusTooManyRequests {
		t.Fatalf("status: got %d (body %q), want 429", r.Code, r.Body)
	}
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After: got %q, want whole seconds in [1, 3600] (window 1h)", r.Header.Get("Retry-After"))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	want := fmt.Sprintf(`{"success":false,"message":%q,"retryAfter":%d}`, RateLimitedMessage, retry)
	if r.Body != want {
		t.Errorf("body: got %s, want %s", r.Body, want)
	}
	var body struct {
		RetryAfter int `json:"retryAfter"`
	}
	if json.Unmarshal([]byte(r.Body), &body) != nil || body.RetryAfter != retry {
		t.Errorf("body retryAfter: got %s, want %d (the Retry-After header)", r.Body, retry)
	}
	WantNoStore(t, r)
}

// WantRateLimitedAs checks the 429 answer to rq: an API client's is
// WantRateLimited's exact JSON; a browser's (Accept: text/html) is the 429
// page with the same Retry-After and no-store.
func WantRateLimitedAs(t testing.TB, rq Request, r *Result) {
	t.Helper()
	if !strings.Contains(rq.Accept, "text/html") {
		WantRateLimited(t, r)
		return
	}
	WantNotForwarded(t, r)
	if r.Code != http.StatusTooManyRequests {
		t.Fatalf("status: got %d (body %q), want 429", r.Code, r.Body)
	}
	if retry, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After: got %q, want whole seconds in [1, 3600] (window 1h)", r.Header.Get("Retry-After"))
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type: got %q, want the text/html page", ct)
	}
	WantNoStore(t, r)
}

// WantAllLike runs check on the first result, then requires every other
// result to match it (Fingerprint), so a broken flight reports one
// difference, not two hundred.
func WantAllLike(t *testing.T, results []*Result, check func(t *testing.T, r *Result)) {
	t.Helper()
	check(t, results[0])
	want := Fingerprint(results[0])
	for i, r := range results[1:] {
		if got := Fingerprint(r); got != want {
			t.Errorf("response %d of %d differs from the first:\ngot  %s\nwant %s", i+2, len(results), got, want)
			return
		}
	}
}

// ---- the fake backend --------------------------------------------------------

// WantCount checks be's call counter for endpoint.
func WantCount(t testing.TB, be *fakebackend.Backend, endpoint string, want int) {
	t.Helper()
	if got := be.Count(endpoint); got != want {
		t.Errorf("backend %s calls: got %d, want %d", endpoint, got, want)
	}
}

// WantBackendUntouched checks that be was not called since it had made
// before calls.
func WantBackendUntouched(t testing.TB, be *fakebackend.Backend, before int) {
	t.Helper()
	if got := be.Total() - before; got != 0 {
		t.Errorf("backend calls: got %d, want 0", got)
	}
}
