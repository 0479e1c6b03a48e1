package fakebackend

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

func refreshStatus(t *testing.T, url, credential string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+RefreshPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestRotatingCredentialsAreSingleUse: the first refresh call with a
// credential gets its answer, every later one (concurrent ones included,
// even while the first is delayed) gets 409; all are counted.
func TestRotatingCredentialsAreSingleUse(t *testing.T) {
	b := NewRotating(t)
	b.RefreshTo("r1", "a2", "r2", UserData("u", "user", nil))
	slow := Refreshed("a3", "r3")
	slow.Delay = 300 * time.Millisecond
	b.SetRefresh("r2", slow)

	if got := refreshStatus(t, b.URL, "r1"); got != http.StatusOK {
		t.Fatalf("first refresh: %d, want 200", got)
	}
	if got := refreshStatus(t, b.URL, "r1"); got != http.StatusConflict {
		t.Fatalf("replay: %d, want 409", got)
	}

	codes := make(chan int, 5)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- refreshStatus(t, b.URL, "r2")
		}()
	}
	wg.Wait()
	close(codes)
	ok, reuse := 0, 0
	for c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			reuse++
		}
	}
	if ok != 1 || reuse != 4 {
		t.Errorf("5 concurrent calls: %d answered 200 and %d 409, want 1 and 4", ok, reuse)
	}
	if b.CountFor(Refresh, "r1") != 2 || b.CountFor(Refresh, "r2") != 5 {
		t.Errorf("counts: r1 %d r2 %d, want 2 and 5", b.CountFor(Refresh, "r1"), b.CountFor(Refresh, "r2"))
	}
	if got := b.RefreshArrivals("r2"); len(got) != 5 {
		t.Errorf("arrivals of r2: %d, want 5", len(got))
	}
	if got := refreshStatus(t, b.URL, "unknown"); got != http.StatusUnauthorized {
		t.Errorf("unknown credential: %d, want 401", got)
	}
}
