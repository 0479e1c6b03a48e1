// Package benchtraefik measures authlayer inside a real Traefik: a load
// generator (closed loop, N keep-alive connections, bounded in time and
// count, loopback only), an auth backend speaking the README's contract
// with a configurable delay, a small upstream, and the run `make
// bench-traefik` drives (benchtraefik_test.go, skipped unless
// AUTHLAYER_BENCH_TRAEFIK=1). test/bench's server benchmark reuses the load
// generator and the backend.
//
// The generator writes prebuilt HTTP/1.1 requests on raw connections and
// parses answers with net/http's own reader: it costs the machine less CPU
// per request than net/http's client (the generator shares the CPUs with
// Traefik on a 2-core machine), and a connection the server closes is
// dialled again.
package benchtraefik

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one keep-alive client connection.
type Conn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
}

// NewConn returns a connection to addr (host:port), dialled on first use;
// every request is bounded by timeout.
func NewConn(addr string, timeout time.Duration) *Conn {
	return &Conn{addr: addr, timeout: timeout}
}

// Answer is a response, its body read.
type Answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Cookies parses the answer's Set-Cookie headers.
func (a *Answer) Cookies() []*http.Cookie {
	return (&http.Response{Header: a.Header}).Cookies()
}

// Do sends one prebuilt request and returns the answer (the body read up
// to 1 MiB).
func (c *Conn) Do(req []byte) (*Answer, error) {
	if c.c == nil {
		nc, err := (&net.Dialer{Timeout: c.timeout}).DialContext(context.Background(), "tcp", c.addr)
		if err != nil {
			return nil, err
		}
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.Close {
		c.Close()
	}
	return &Answer{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// Close closes the connection; the next Do dials again.
func (c *Conn) Close() {
	if c.c != nil {
		_ = c.c.Close()
		c.c = nil
	}
}

// Request renders a GET request for host and path with the given headers
// (in order), keep-alive.
func Request(host, path string, headers ...string) []byte {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Load is one load run: Conns connections, each sending requests back to
// back, until Duration has passed or MaxRequests were sent (0: no bound).
type Load struct {
	Addr        string
	Conns       int
	Duration    time.Duration
	MaxRequests int64
	Timeout     time.Duration // per request; 0 means 10 s
	// Build returns the request with sequence number seq (0, 1, … across
	// all connections). Called concurrently.
	Build func(seq int64) []byte
	// WantStatus is the expected status; others count as BadStatus.
	WantStatus int
}

// Sample is one request: its sequence number, when it was sent (since the
// run's start) and how long the answer took.
type Sample struct {
	Seq     int64
	Start   time.Duration
	Latency time.Duration
}

// Result is what a Load measured.
type Result struct {
	Requests  int64 // answered with WantStatus
	BadStatus int64
	Errors    int64 // transport errors (connection refused, reset, timeout)
	SetCookie int64 // answers carrying Set-Cookie
	Elapsed   time.Duration
	Samples   []Sample // answered requests, in no particular order
	FirstBad  string   // the first unexpected answer, for the report
}

// RPS is the throughput of answered requests.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Percentile returns the latency below which a fraction p of the samples
// lie (p in [0, 1]).
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Samples) == 0 {
		return 0
	}
	lat := make([]time.Duration, len(r.Samples))
	for i, s := range r.Samples {
		lat[i] = s.Latency
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	i := int(p * float64(len(lat)-1))
	return lat[i]
}

// Run runs the load and returns what it measured.
func Run(l Load) *Result {
	if l.Conns < 1 {
		l.Conns = 1
	}
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	var (
		seq       atomic.Int64
		mu        sync.Mutex
		res       = &Result{}
		wg        sync.WaitGroup
		start     = time.Now()
		deadline  = start.Add(l.Duration)
		firstBadM sync.Once
	)
	for w := 0; w < l.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewConn(l.Addr, l.Timeout)
			defer c.Close()
			samples := make([]Sample, 0, 4096)
			var ok, bad, errs, setCookie int64
			for {
				n := seq.Add(1) - 1
				if l.MaxRequests > 0 && n >= l.MaxRequests {
					break
				}
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				resp, err := c.Do(l.Build(n))
				lat := time.Since(t0)
				switch {
				case err != nil:
					errs++
					firstBadM.Do(func() { res.FirstBad = err.Error() })
					time.Sleep(time.Millisecond) // a refused connection does not spin
				case resp.StatusCode != l.WantStatus:
					bad++
					firstBadM.Do(func() { res.FirstBad = fmt.Sprintf("status %d: %.200s", resp.StatusCode, resp.Body) })
				default:
					ok++
					if len(resp.Header["Set-Cookie"]) > 0 {
						setCookie++
					}
					samples = append(samples, Sample{Seq: n, Start: t0.Sub(start), Latency: lat})
				}
			}
			mu.Lock()
			res.Requests += ok
			res.BadStatus += bad
			res.Errors += errs
			res.SetCookie += setCookie
			res.Samples = append(res.Samples, samples...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// MinimumCalls is the fewest validations a perfect cache with the given
// TTL needs for these samples when request seq carries token
// tokenOf(seq): per token, one at its first request and one at each
// request arriving ttl or more after the last one counted.
func MinimumCalls(samples []Sample, tokenOf func(seq int64) int, ttl time.Duration) int64 {
	sorted := make([]Sample, len(samples))
	copy(sorted, samples)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	coveredUntil := map[int]time.Duration{}
	var n int64
	for _, s := range sorted {
		tok := tokenOf(s.Seq)
		if until, ok := coveredUntil[tok]; ok && s.Start < until {
			continue
		}
		n++
		coveredUntil[tok] = s.Start + ttl
	}
	return n
}

// ProcStat is a process's CPU time and resident set size.
type ProcStat struct {
	CPU time.Duration // user + system
	RSS int64         // bytes
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTick = 10 * time.Millisecond

// ReadProcStat reads /proc/<pid>/stat ("self" for this process).
func ReadProcStat(pid string) (ProcStat, error) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ProcStat{}, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return ProcStat{}, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	rss, err3 := strconv.ParseInt(f[21], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return ProcStat{}, err
	}
	return ProcStat{CPU: time.Duration(utime+stime) * clockTick, RSS: rss * int64(os.Getpagesize())}, nil
}

// MachineBusy reads the CPU time all processes have used so far (the
// first line of /proc/stat: user, nice, system, irq, softirq, steal).
func MachineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat format")
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	return time.Duration(busy) * clockTick, nil
}
