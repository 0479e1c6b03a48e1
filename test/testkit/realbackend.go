package testkit

import (
	"encoding/json"
	"io"
	"net/http"
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
