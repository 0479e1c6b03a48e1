package contract

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/loader"
	"github.com/authlayer/authlayer/test/testkit"
)

// logCapture collects what the plugin writes with the log package: the
// compiled plugin's go to the host's log output, the interpreted plugin's
// to the interpreter's standard error (loader.CaptureStderr).
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// captureLog redirects the log package to a capture until the test ends.
func captureLog(t *testing.T) *logCapture {
	t.Helper()
	c := &logCapture{}
	log.SetOutput(io.MultiWriter(os.Stderr, c))
	restore := loader.CaptureStderr(c)
	t.Cleanup(func() {
		log.SetOutput(os.Stderr)
		restore()
	})
	return c
}

// linesSince returns the captured lines holding marker, from offset on,
// and the new offset.
func (c *logCapture) linesSince(offset int, marker string) ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	text := c.buf.String()
	var out []string
	for _, line := range strings.Split(text[offset:], "\n") {
		if strings.Contains(line, marker) {
			out = append(out, line)
		}
	}
	return out, len(text)
}

// TestBackendHealthLogged: a failing backend endpoint is logged once when
// it starts failing, naming the middleware, the endpoint, its URL and the
// cause, and once when it recovers (a second after the failure's line at
// the earliest); requests in a steady state log nothing, and no line holds
// a token or the guest password.
func TestBackendHealthLogged(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		logs := captureLog(t)
		name := t.Name()
		marker := "authlayer: " + name + ": auth backend "
		expect := func(t *testing.T, offset int, want string) int {
			t.Helper()
			got, next := logs.linesSince(offset, marker)
			switch {
			case want == "" && len(got) != 0:
				t.Errorf("logged %q, want nothing", got)
			case want != "" && (len(got) != 1 || !strings.Contains(got[0], want)):
				t.Errorf("logged %q, want one line with %q", got, want)
			}
			for _, line := range got {
				if strings.Contains(line, "fbtok") || strings.Contains(line, "guest-pass") {
					t.Errorf("line %q holds a token or the password", line)
				}
			}
			return next
		}

		h := e.handler(t, endpointOpts(e, e.guestOpts()))
		_, off := logs.linesSince(0, marker)

		t.Run("guest endpoint answers garbage", func(t *testing.T) {
			start := off
			e.be.SetGuestAnswer(fakebackend.Garbage())
			e.do(t, h, testkit.Page("/"))
			off = expect(t, off, "auth backend guest endpoint "+e.be.URL+"/auth/guest is failing: body not JSON")
			for i := 0; i < 5; i++ {
				e.do(t, h, testkit.Page("/"))
			}
			off = expect(t, off, "")
			if all, _ := logs.linesSince(start, "authlayer: "+name+": "); len(all) != 1 {
				t.Errorf("6 anonymous requests with the guest endpoint failing: %d lines %q, want 1", len(all), all)
			}
		})

		failing := fakebackend.Token("fbtok-503")
		e.be.SetValidate(failing, fakebackend.Status(http.StatusServiceUnavailable))
		t.Run("validate answers 503", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, failing))
			if r.Code != http.StatusServiceUnavailable {
				t.Errorf("protected page with the backend failing: got %d, want 503", r.Code)
			}
			off = expect(t, off, "auth backend validate endpoint "+e.be.URL+"/auth/me is failing: status 503")
		})

		t.Run("validate recovers", func(t *testing.T) {
			good := fakebackend.Token("fbtok-good")
			e.be.SetUser(good, fakebackend.UserData("u-1", "user", nil))
			time.Sleep(1100 * time.Millisecond) // lines of one endpoint are a second apart at least
			testkit.WantForwarded(t, e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, good)))
			off = expect(t, off, "auth backend validate endpoint "+e.be.URL+"/auth/me recovered after 1s (was: status 503)")
		})

		t.Run("login endpoint redirects", func(t *testing.T) {
			e.be.SetLogin("bob", "pw-bob", fakebackend.Redirect(http.StatusFound, "/elsewhere"))
			r := e.do(t, h, jsonLogin("bob", "pw-bob"))
			if r.Code != http.StatusServiceUnavailable {
				t.Errorf("login with a redirecting backend: got %d, want 503", r.Code)
			}
			off = expect(t, off, "auth backend login endpoint "+e.be.URL+"/auth/login is failing: redirect (3xx), not followed")
			e.do(t, h, jsonLogin("nobody", "wrong")) // a refusal is an answer: still failing, nothing new
			off = expect(t, off, "")
		})

		t.Run("nothing listening", func(t *testing.T) {
			closed := fakebackend.ClosedURL(t)
			down := e.handler(t, e.opts(m{"backend": m{"url": closed}, "routes": m{"protected": testkit.List("/dashboard")}}))
			r := e.do(t, down, testkit.Page("/dashboard").Cookie(testkit.UserCookie, failing))
			if r.Code != http.StatusServiceUnavailable {
				t.Errorf("protected page with no backend: got %d, want 503", r.Code)
			}
			got, next := logs.linesSince(off, "auth backend validate endpoint "+closed+"/auth/me is failing: connection refused")
			off = next
			if len(got) != 1 || !strings.HasPrefix(got[0][strings.Index(got[0], "authlayer: "):], "authlayer: "+t.Name()) {
				t.Errorf("logged %q, want one connection-refused line from %s", got, t.Name())
			}
		})
	})
}
