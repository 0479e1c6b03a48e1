package testkit

import (
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// UpstreamBody is what the upstream answers.
const UpstreamBody = "upstream"

// Upstream is the app behind authlayer: it answers 200 UpstreamBody and
// records the headers of every request by its X-Test-Id. The contract
// suite calls it as the next handler, the e2e suite serves it on
// loopback.
type Upstream struct {
	mu    sync.Mutex // protects byID
	byID  map[string]http.Header
	ids   atomic.Int64
	count atomic.Int64
}

// NewUpstream returns an upstream that has received nothing.
func NewUpstream() *Upstream { return &Upstream{byID: map[string]http.Header{}} }

// ServeHTTP records r's headers and answers 200 UpstreamBody.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.count.Add(1)
	u.mu.Lock()
	u.byID[r.Header.Get(HeaderTestID)] = r.Header.Clone()
	u.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, UpstreamBody)
}

// Tag gives req a new X-Test-Id and returns it.
func (u *Upstream) Tag(req *http.Request) string {
	id := u.NewID()
	req.Header.Set(HeaderTestID, id)
	return id
}

// NewID returns a test id no request has had.
func (u *Upstream) NewID() string { return strconv.FormatInt(u.ids.Add(1), 10) }

// LastID is the last id NewID returned (0 before the first).
func (u *Upstream) LastID() int64 { return u.ids.Load() }

// Received returns the headers of the request tagged id, nil when none
// reached the upstream.
func (u *Upstream) Received(id string) http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id]
}

// Count is how many requests the upstream has answered.
func (u *Upstream) Count() int64 { return u.count.Load() }
