package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// testTrustedProxies trusts a private range, one bare IPv4 proxy, an IPv6 range,
// and an IPv4 range written in IPv4-mapped form.
func testTrustedProxies(t testing.TB) *proxyList {
	t.Helper()
	p, err := parseTrustedProxies("rateLimit.trustedProxies", []string{
		"10.0.0.0/8", " 192.168.1.1 ", "2001:db8:ffff::/48", "::ffff:172.16.0.0/108", "",
	})
	if err != nil {
		t.Fatalf("parseTrustedProxies: %v", err)
	}
	return p
}

func clientIPRequest(remote string, xff []string, extra map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = remote
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	return req
}

// trustedHopChain is n hops 10.0.<i/250>.<i%250+1>, left to right, all
// trusted by testTrustedProxies.
func trustedHopChain(n int) []string {
	hops := make([]string, 0, n)
	for i := 0; i < n; i++ {
		hops = append(hops, "10.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250+1))
	}
	return hops
}

func TestClientIP(t *testing.T) {
	long := trustedHopChain(40)
	cases := []struct {
		desc   string
		remote string
		xff    []string
		extra  map[string]string
		want   string
	}{
		{desc: "untrusted peer, no header", remote: "203.0.113.7:5123", want: "203.0.113.7"},
		{desc: "untrusted peer: its X-Forwarded-For is ignored entirely", remote: "203.0.113.7:5123",
			xff: []string{"198.51.100.1, 10.0.0.2"}, want: "203.0.113.7"},
		{desc: "untrusted peer: X-Real-IP, Forwarded and CF-Connecting-IP are ignored", remote: "203.0.113.7:5123",
			extra: map[string]string{"X-Real-Ip": "198.51.100.1", "Forwarded": "for=198.51.100.1", "Cf-Connecting-Ip": "198.51.100.1"},
			want:  "203.0.113.7"},
		{desc: "trusted peer, no header: the peer", remote: "10.0.0.1:80", want: "10.0.0.1"},
		{desc: "trusted peer: X-Real-IP is never read", remote: "10.0.0.1:80",
			extra: map[string]string{"X-Real-Ip": "198.51.100.1", "Forwarded": "for=198.51.100.1"}, want: "10.0.0.1"},
		{desc: "trusted peer, one hop", remote: "10.0.0.1:80", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{desc: "spoofed left-most hops are ignored", remote: "10.0.0.1:80",
			xff: []string{"6.6.6.6, 7.7.7.7, 203.0.113.7"}, want: "203.0.113.7"},
		{desc: "several proxies: the right-most untrusted hop", remote: "10.0.0.1:80",
			xff: []string{"6.6.6.6, 203.0.113.7, 10.9.8.7, 192.168.1.1, 172.16.0.9"}, want: "203.0.113.7"},
		{desc: "spoofed hop that looks trusted, left of the client", remote: "10.0.0.1:80",
			xff: []string{"10.6.6.6, 203.0.113.7, 10.0.0.2"}, want: "203.0.113.7"},
		{desc: "several header lines: the last line is the right-most", remote: "10.0.0.1:80",
			xff: []string{"6.6.6.6, 203.0.113.7", "10.0.0.5"}, want: "203.0.113.7"},
		{desc: "client in an earlier line", remote: "10.0.0.1:80",
			xff: []string{"6.6.6.6", "203.0.113.7, 10.0.0.4", "10.0.0.5"}, want: "203.0.113.7"},
		{desc: "spaces and tabs trimmed", remote: "10.0.0.1:80",
			xff: []string{" 6.6.6.6 ,\t203.0.113.7 ,  10.0.0.5 "}, want: "203.0.113.7"},
		{desc: "empty elements skipped", remote: "10.0.0.1:80",
			xff: []string{"203.0.113.7,, 10.0.0.5,", ""}, want: "203.0.113.7"},
		{desc: "every hop trusted: the left-most", remote: "10.0.0.1:80",
			xff: []string{"10.0.0.9, 192.168.1.1, 10.0.0.8"}, want: "10.0.0.9"},
		{desc: "malformed right-most hop: the peer", remote: "10.0.0.1:80",
			xff: []string{"203.0.113.7, not-an-ip"}, want: "10.0.0.1"},
		{desc: "malformed hop after trusted ones: the last trusted", remote: "10.0.0.1:80",
			xff: []string{"6.6.6.6, 203.0.113.7, garbage, 10.0.0.5"}, want: "10.0.0.5"},
		{desc: "oversized garbage hop: the peer", remote: "10.0.0.1:80",
			xff: []string{strings.Repeat("9", 5000)}, want: "10.0.0.1"},
		{desc: "IPv4 hop with a port", remote: "10.0.0.1:80", xff: []string{"203.0.113.7:4711"}, want: "203.0.113.7"},
		{desc: "IPv6 hop with a port", remote: "10.0.0.1:80", xff: []string{"[2001:db8:1::5]:443"}, want: "2001:db8:1::5"},
		{desc: "trusted IPv6 peer", remote: "[2001:db8:ffff::1]:443", xff: []string{"2001:db8:1::5"}, want: "2001:db8:1::5"},
		{desc: "IPv4-mapped peer matches an IPv4 range", remote: "[::ffff:10.0.0.1]:443",
			xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{desc: "IPv4-mapped hop matches an IPv4 range", remote: "10.0.0.1:80",
			xff: []string{"203.0.113.7, ::ffff:10.0.0.2"}, want: "203.0.113.7"},
		{desc: "range written IPv4-mapped matches plain IPv4", remote: "172.16.3.4:80",
			xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{desc: "untrusted IPv6 peer", remote: "[2001:db8:1::9]:443", xff: []string{"203.0.113.7"}, want: "2001:db8:1::9"},
		{desc: "peer without a port", remote: "203.0.113.7", want: "203.0.113.7"},
		{desc: "empty peer address", remote: "", xff: []string{"203.0.113.7"}, want: ""},
		{desc: "malformed peer address: the header is not believed", remote: "not-an-ip:80",
			xff: []string{"203.0.113.7"}, want: ""},
		{desc: "bracketed peer without a port", remote: "[2001:db8::1]", want: ""},
		{desc: "chain longer than the cap: the hop at the cap", remote: "10.0.0.1:80",
			xff: []string{"203.0.113.7, " + strings.Join(long, ", ")}, want: long[len(long)-maxForwardedHops]},
		{desc: "cap counts empty elements too", remote: "10.0.0.1:80",
			xff: []string{"203.0.113.7, 10.0.0.3" + strings.Repeat(",", 100)}, want: "10.0.0.1"},
	}
	proxies := testTrustedProxies(t)
	for _, tc := range cases {
		tc := tc
		t.Run(tc.desc, func(t *testing.T) {
			got := clientIP(proxies, clientIPRequest(tc.remote, tc.xff, tc.extra))
			if got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientIPWithoutTrustedProxiesIsThePeer(t *testing.T) {
	req := clientIPRequest("10.0.0.1:80", []string{"203.0.113.7"}, nil)
	if got := clientIP(nil, req); got != "10.0.0.1" {
		t.Errorf("clientIP(nil) = %q, want the peer 10.0.0.1", got)
	}
}

func TestKeyOf(t *testing.T) {
	cases := []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"2001:0db8:0001:0002::1", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", ""},
		{"not-an-ip", ""},
		{"203.0.113.7:80", ""},
	}
	for _, tc := range cases {
		if got := keyOf(tc.ip); got != tc.want {
			t.Errorf("keyOf(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestIPv6HostCannotRotateWithinItsSlash64(t *testing.T) {
	keys := map[string]bool{}
	for i := 0; i < 50; i++ {
		keys[keyOf("2001:db8:aa:bb:"+strconv.FormatInt(int64(i*1297), 16)+"::1")] = true
	}
	if len(keys) != 1 {
		t.Errorf("50 addresses in one /64 gave %d keys, want 1", len(keys))
	}
	if keyOf("2001:db8:aa:bb::1") == keyOf("2001:db8:aa:bc::1") {
		t.Error("neighbouring /64s share a key")
	}
}

func TestClientKeyIsKeyOfClientIP(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) {
		o.TrustedProxies = []string{"10.0.0.0/8", "2001:db8:ffff::/48"}
	})
	reqs := []*http.Request{
		clientIPRequest("203.0.113.7:1", nil, nil),
		clientIPRequest("10.0.0.1:1", []string{"6.6.6.6, 2001:db8:1:2::77"}, nil),
		clientIPRequest("10.0.0.1:1", []string{"::ffff:203.0.113.9"}, nil),
		clientIPRequest("[2001:db8:ffff::1]:1", []string{"198.51.100.3:9"}, nil),
		clientIPRequest("[2001:db8:ffff::1]:1", []string{"[2001:db8:5::1]:9"}, nil),
		clientIPRequest("garbage", nil, nil),
	}
	for _, req := range reqs {
		want := keyOf(clientIP(rl.proxies, req))
		if got := ClientKey(rl, req); got != want {
			t.Errorf("ClientKey(%s, %q) = %q, want %q", req.RemoteAddr, req.Header["X-Forwarded-For"], got, want)
		}
	}
	if got := ClientKey(nil, reqs[1]); got != "10.0.0.1" {
		t.Errorf("ClientKey(nil) = %q, want the peer", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	p := testTrustedProxies(t)
	cases := []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true}, {"11.0.0.1", false},
		{"192.168.1.1", true}, {"192.168.1.2", false},
		{"2001:db8:ffff:1::1", true}, {"2001:db8:fffe::1", false},
		{"172.31.200.1", true}, {"172.32.0.1", false},
		{"::ffff:10.0.0.1", true},
	}
	for _, tc := range cases {
		a := netip.MustParseAddr(tc.ip)
		if got := proxyTrusts(p, a); got != tc.want {
			t.Errorf("trusted(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if p, err := parseTrustedProxies("rateLimit.trustedProxies", []string{" ", ""}); p != nil || err != nil {
		t.Errorf("blank list = %v, %v; want nil, nil (trust nobody)", p, err)
	}
}

func TestParseTrustedProxiesErrorsNameTheOption(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.0/8/8", "0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "10.0.0.1-10.0.0.9"} {
		_, err := parseTrustedProxies("rateLimit.trustedProxies", []string{"10.0.0.0/8", bad})
		if err == nil {
			t.Errorf("%q accepted, want an error", bad)
			continue
		}
		if !strings.HasPrefix(err.Error(), "authlayer: rateLimit.trustedProxies: ") || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %q does not name the option and the entry", bad, err)
		}
	}
}

// BenchmarkClientIPLongXFF walks chains of trusted hops (the worst case:
// nothing stops the walk but the cap) of attacker-chosen lengths.
func BenchmarkClientIPLongXFF(b *testing.B) {
	proxies := testTrustedProxies(b)
	for _, n := range []int{1, 100, 10000} {
		req := clientIPRequest("10.0.0.1:80", []string{strings.Join(trustedHopChain(n), ", ")}, nil)
		b.Run("hops="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if clientIP(proxies, req) == "" {
					b.Fatal("no client")
				}
			}
		})
	}
}

// clientIP is ClientIP for a list of trusted proxies.
func clientIP(p *proxyList, req *http.Request) string {
	_, text := clientAddr(p, req)
	return text
}
