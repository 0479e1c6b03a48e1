package ratelimit

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Client addresses for rate limiting and the audit log. The client is the
// connection's peer unless that peer is a trusted proxy; then it is the
// right-most X-Forwarded-For hop that is not a trusted proxy. The
// left-most hops are whatever the client chose to send, so trusting them
// (as the original did) lets anyone pick a fresh address per request.
// Nothing else the client sends (X-Real-IP, Forwarded, CF-Connecting-IP)
// is read: only a header each trusted proxy appends to can be walked back.

// maxForwardedHops caps the X-Forwarded-For elements examined per request.
// Every hop right of the client is one of our own proxies, so a real chain
// is a handful long; the cap keeps a 10,000-hop header as cheap as a short
// one. When the cap is reached on a trusted hop, that hop is the answer
// (the same rule as "every hop trusted": the left-most hop walked).
const maxForwardedHops = 32

// proxyList holds the trusted proxies, parsed once in New. A nil list
// trusts nobody: the client is always the connection's peer.
type proxyList struct {
	exact map[netip.Addr]bool // bare IPs: one map look-up
	nets  []netip.Prefix      // CIDRs: checked in order
}

// parseTrustedProxies reads CIDRs ("10.0.0.0/8", "2001:db8::/32") and bare
// IPs. Blank entries are skipped (a label "a,b," splits into a trailing
// ""). A /0 is refused: trusting every address would let any client write
// its own address into X-Forwarded-For.
func parseTrustedProxies(option string, cidrs []string) (*proxyList, error) {
	p := &proxyList{exact: map[netip.Addr]bool{}}
	for _, raw := range cidrs {
		v := strings.TrimSpace(raw)
		if v == "" {
			continue
		}
		if err := addTrustedProxy(p, option, v); err != nil {
			return nil, err
		}
	}
	if len(p.exact) == 0 && len(p.nets) == 0 {
		return nil, nil
	}
	return p, nil
}

func addTrustedProxy(p *proxyList, option, v string) error {
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return opts.Error(option, "%q is not a CIDR (10.0.0.0/8) or an IP address", v)
		}
		p.exact[plainAddr(a)] = true
		return nil
	}
	prefix, err := netip.ParsePrefix(v)
	if err != nil {
		return opts.Error(option, "%q is not a CIDR (10.0.0.0/8) or an IP address", v)
	}
	prefix = unmapPrefix(prefix)
	if prefix.Bits() == 0 {
		return opts.Error(option, "%q trusts every address: any client could choose its own IP", v)
	}
	p.nets = append(p.nets, prefix.Masked())
	return nil
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, since addresses
// are unmapped before they are checked.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() || p.Bits() < 96 {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
}

// plainAddr drops what must not change an address's identity: the IPv6
// zone and the IPv4-in-IPv6 mapping of a dual-stack listener.
func plainAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// proxyTrusts reports whether a is a trusted proxy. A plain IPv4 address
// (the common case) skips the normalisation calls.
func proxyTrusts(p *proxyList, a netip.Addr) bool {
	if !a.Is4() {
		a = plainAddr(a)
	}
	if p.exact[a] {
		return true
	}
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address as text, for the audit log: the
// same address ClientKey is built from (the proxies trusted are rl's; a
// nil limiter trusts none). It is "" when the connection's address is
// unusable (then every such request shares one rate-limit key: fail
// closed rather than trust a header).
func ClientIP(rl *Limiter, req *http.Request) string {
	var p *proxyList
	if rl != nil {
		p = rl.proxies
	}
	_, text := clientAddr(p, req)
	return text
}

// clientAddr is ClientIP with the parsed address, so that the rate
// limiter's key needs no second parse. The peer is parsed inline (Yaegi
// charges for every interpreted call); the text is a substring of
// RemoteAddr, so no allocation. A bare IP, as some test harnesses set
// RemoteAddr, is accepted too.
func clientAddr(p *proxyList, req *http.Request) (netip.Addr, string) {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, ""
	}
	if p == nil || !proxyTrusts(p, peer) {
		return peer, host
	}
	return forwardedClient(p, req.Header["X-Forwarded-For"], peer, host)
}

// forwardedClient walks X-Forwarded-For from the right: the last header
// line first (each proxy appends), each line's comma list from its end.
// Each trusted hop hands the walk to the address it reports; the first
// untrusted one is the client. A malformed hop ends the walk at the last
// good address (the trusted proxy that reported the garbage, or the peer):
// garbage is never a key, so it cannot be varied to mint fresh budgets.
// Empty list elements are skipped (RFC 9110 section 5.6.1) but counted
// against the cap.
func forwardedClient(p *proxyList, lines []string, addr netip.Addr, text string) (netip.Addr, string) {
	walked := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			hop := rest
			cut := strings.LastIndexByte(rest, ',')
			if cut >= 0 {
				hop, rest = rest[cut+1:], rest[:cut]
			}
			hop = strings.TrimSpace(hop)
			walked++
			if hop != "" {
				a, err := netip.ParseAddr(hop)
				if err != nil {
					if a, hop, err = parseHopWithPort(hop); err != nil {
						return addr, text
					}
				}
				addr, text = a, hop
				if !proxyTrusts(p, a) || walked >= maxForwardedHops {
					return addr, text
				}
			} else if walked >= maxForwardedHops {
				return addr, text
			}
			if cut < 0 {
				break
			}
		}
	}
	return addr, text
}

// parseHopWithPort reads the rarer "ip:port" / "[ip6]:port" hops some
// proxies write; kept apart so the common path declares fewer locals
// (Yaegi allocates them all on every call).
func parseHopWithPort(hop string) (netip.Addr, string, error) {
	ap, err := netip.ParseAddrPort(hop)
	if err != nil {
		return netip.Addr{}, "", err
	}
	return ap.Addr(), ap.Addr().String(), nil
}

// keyOf groups addresses into rate-limit keys: an IPv4 address is its
// own key; an IPv6 address is keyed by its /64, the smallest block a host
// is usually given, so one host cannot rotate through its 2^64 addresses;
// an IPv4-mapped IPv6 address is its IPv4 address. Text that is not an
// address (only "" from clientIP) maps to the shared key "".
func keyOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return addrKey(a, ip)
}

// addrKey is keyOf for an already parsed address; text is its
// spelling, returned as is for IPv4 (a valid IPv4 spelling is canonical:
// netip refuses leading zeros), which costs no allocation.
func addrKey(a netip.Addr, text string) string {
	if a.Is4() {
		return text
	}
	if !a.IsValid() {
		return ""
	}
	return ipv6Key(a)
}

func ipv6Key(a netip.Addr) string {
	a = plainAddr(a)
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ""
	}
	return p.String()
}
