package testkit

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
)

// What the runners of real backends share (redisrun, djangorun,
// zitadelrun, oauth2server): skipping when a real part is missing, and
// the answers their helpers read.

// RequireOrSkip handles a real part the test needs and this machine lacks
// (why says which and how to get it): the test is skipped, or fails when
// the environment variable env is "1" (CI sets it).
func RequireOrSkip(t testing.TB, env, why string) {
	t.Helper()
	if os.Getenv(env) == "1" {
		t.Fatalf("%s=1 and %s", env, why)
	}
	t.Skipf("skipped: %s; %s=1 makes this a failure", why, env)
}

// Need returns what available finds (a binary, an interpreter), or skips
// the test saying why (fails it when env is "1"): each runner's Need.
func Need(t testing.TB, env string, available func() (string, string)) string {
	t.Helper()
	bin, why := available()
	if bin != "" {
		return bin
	}
	RequireOrSkip(t, env, why)
	return ""
}

// BasicAuth is RFC 6749 §2.3.1's Authorization value: id and secret each
// form-urlencoded, then Basic.
func BasicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// ClientForm is a token endpoint request's body and header for clientID:
// HTTP Basic (RFC 6749 §2.3.1) with a secret, client_id in the form
// without one (a public client). form is not modified.
func ClientForm(form url.Values, clientID, secret string) (string, http.Header) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if secret != "" {
		h.Set("Authorization", BasicAuth(clientID, secret))
	} else {
		f.Set("client_id", clientID)
	}
	return f.Encode(), h
}

// BackendResponse is one answer of a real backend to a test's helper.
type BackendResponse struct {
	Status int
	Header http.Header
	Body   string
	// JSON is the body decoded as a JSON object; nil when it is not one.
	JSON map[string]interface{}
}

// Field is JSON[name] as a string ("" when absent or not a string).
func (r BackendResponse) Field(name string) string {
	v, _ := r.JSON[name].(string)
	return v
}

// redactedFields are answer fields that hold tokens: String hides them.
var redactedFields = map[string]bool{
	"access": true, "refresh": true, "token": true,
	"access_token": true, "refresh_token": true, "id_token": true,
}

// String is the status and the body for failure messages, with the
// values of token fields replaced (no token in a test's output).
func (r BackendResponse) String() string {
	body := r.Body
	if r.JSON != nil {
		m := map[string]interface{}{}
		for k, v := range r.JSON {
			if redactedFields[k] {
				v = "<redacted>"
			}
			m[k] = v
		}
		if b, err := json.Marshal(m); err == nil {
			body = string(b)
		}
	}
	return strconv.Itoa(r.Status) + " " + body
}

// Exchange sends req with client and reads the answer: the body up to
// limit bytes, decoded when it is a JSON object.
func Exchange(client *http.Client, req *http.Request, limit int64) (BackendResponse, error) {
	resp, err := client.Do(req) //nolint:gosec // a loopback backend the test itself started
	if err != nil {
		return BackendResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return BackendResponse{}, err
	}
	out := BackendResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	var doc map[string]interface{}
	if json.Unmarshal(b, &doc) == nil {
		out.JSON = doc
	}
	return out, nil
}
