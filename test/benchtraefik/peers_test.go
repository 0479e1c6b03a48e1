package benchtraefik

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/traefikrun"
)

// Peer JWT plugins in the real-Traefik bench (BENCH_PEERS, opt-in).
//
// BENCH_PEERS names a directory laid out as Traefik's plugins-local:
// <dir>/src/<module path>/ with each peer's go.mod, .traefik.yml and
// sources, as test/benchtraefik/peers/layout.sh lays out the repositories
// whoever runs the bench fetched (their code is never committed: it is
// not on the module proxy either). Each peer of peerPlugins found there is
// loaded as a local plugin by the same Traefik, and gets a route per
// algorithm it can verify with a configured key, verifying the very token
// of authlayer's jwt-<alg> route, measured in the same interleaved rounds.
// The routes run when BENCH_ROUTES names "jwt", "peers" or the route.

// EnvPeers names the peers' plugins-local directory.
const EnvPeers = "BENCH_PEERS"

// peerPlugin is one peer and how the bench configures it.
type peerPlugin struct {
	Module  string // module path: its sources are <BENCH_PEERS>/src/<Module>
	Alias   string // its local-plugin alias, the key under a middleware's "plugin"
	Short   string // the routes' names are peer-<Short>-<alg>
	Label   string
	Version string   // what Config was written against (README and sources)
	Algs    []string // what it verifies with a configured key, among JWTAlgorithms
	// Header: it reads the token from "Authorization: Bearer" only; the
	// others read authlayer's cookie (userToken).
	Header bool
	// UserID: it can forward the sub claim as X-Auth-User-Id, which the
	// upstream echoes and prepare checks (as for authlayer's routes).
	UserID bool
	Checks string // what it verifies besides the signature, for the report
	// Config is the middleware's options for c; jwks is the URL of a JWKS
	// serving c's HMAC secret as an "oct" key (for a peer that takes HMAC
	// keys only from a JWKS).
	Config func(c JWTCase, jwks func() string) m
}

// peerPlugins are the peers of issue 18, configured from each one's README
// and source at Version: the same key as authlayer's route, the claims
// checks each offers that authlayer's route makes too (iss, aud, exp), and
// the sub claim forwarded as X-Auth-User-Id where it can; every other
// option is left at its default.
var peerPlugins = []peerPlugin{
	{
		Module: "github.com/legege/jwt-validation-middleware", Alias: "peer-legege", Short: "legege",
		Label: "legege/jwt-validation-middleware", Version: "v0.2.1",
		Algs: []string{"HS256"}, UserID: true,
		Checks: "exp only; HMAC-SHA256 whatever the header's alg (the header is not read)",
		Config: func(c JWTCase, _ func() string) m {
			return m{
				"secret":         c.Key,
				"authCookieName": "userToken",
				"payloadHeaders": m{"X-Auth-User-Id": "sub"},
			}
		},
	},
	{
		Module: "github.com/traefik-plugins/traefik-jwt-plugin", Alias: "peer-tjp", Short: "tjp",
		Label: "traefik-plugins/traefik-jwt-plugin", Version: "v0.10.0",
		Algs: []string{"HS256", "RS256", "ES256"}, UserID: true,
		Checks: "alg (Alg), exp, aud (PayloadFields, Aud); no iss check; HMAC keys only from a JWKS (the bench serves one)",
		Config: func(c JWTCase, jwks func() string) m {
			key := c.Key
			if strings.HasPrefix(c.Alg, "HS") {
				key = jwks() // Keys takes PEM blocks and JWKS URLs, not secrets
			}
			return m{
				"Required":      true,
				"Alg":           c.Alg,
				"Keys":          []interface{}{key},
				"PayloadFields": []interface{}{"exp", "aud"},
				"Aud":           JWTAudience,
				"JwtHeaders":    m{"X-Auth-User-Id": "sub"},
				"JwtSources":    []interface{}{m{"type": "cookie", "key": "userToken"}},
			}
		},
	},
	{
		Module: "github.com/agilezebra/jwt-middleware", Alias: "peer-agilezebra", Short: "agilezebra",
		Label: "agilezebra/jwt-middleware", Version: "v1.4.1-1",
		// EdDSA: its secret option parses EC and RSA public keys only.
		Algs: []string{"HS256", "RS256", "ES256"}, UserID: true,
		Checks: "alg allow-list (validMethods), exp/nbf/iat (golang-jwt), iss, aud (require)",
		Config: func(c JWTCase, _ func() string) m {
			return m{
				"secret":       c.Key,
				"validMethods": []interface{}{c.Alg},
				"cookieName":   "userToken",
				"require":      m{"iss": JWTIssuer, "aud": JWTAudience},
				"headerMap":    m{"X-Auth-User-Id": "sub"},
			}
		},
	},
	{
		Module: "github.com/23deg/jwt-middleware", Alias: "peer-23deg", Short: "23deg",
		Label: "23deg/jwt-middleware", Version: "v0.1.3",
		Algs: []string{"HS256"}, Header: true,
		Checks: "none (no exp); HMAC-SHA256 whatever the alg; forwards the claims JSON as a header; prints the request's headers to stdout on every request",
		Config: func(c JWTCase, _ func() string) m {
			return m{"secret": c.Key}
		},
	},
}

// peerVersions reads <dir>/peers.txt, written by peers/layout.sh: per
// line, a module path, the revision laid out and its commit.
func peerVersions(dir string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(filepath.Join(dir, "peers.txt"))
	if err != nil {
		return out
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 {
			out[fields[0]] = strings.Join(fields[1:], " ")
		}
	}
	return out
}

// peerRoutes returns, when BENCH_PEERS is set, a route per peer found
// there and per algorithm it verifies (the token and key of all's
// jwt-<alg> route), and the peers as local plugins.
func peerRoutes(t testing.TB, all []*route) ([]*route, []traefikrun.LocalPlugin) {
	dir := os.Getenv(EnvPeers)
	if dir == "" {
		return nil, nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*JWTCase{}
	for _, r := range all {
		if r.jwtCase != nil && r.name == "jwt-"+r.jwtCase.Name {
			cases[r.jwtCase.Alg] = r.jwtCase
		}
	}
	var jwksURL string
	jwks := func() string {
		if jwksURL == "" {
			jwksURL = jwksServer(t, cases["HS256"])
		}
		return jwksURL
	}
	versions := peerVersions(dir)
	var rs []*route
	var plugins []traefikrun.LocalPlugin
	for _, p := range peerPlugins {
		src := filepath.Join(dir, "src", filepath.FromSlash(p.Module))
		if _, err := os.Stat(filepath.Join(src, ".traefik.yml")); err != nil {
			t.Logf("%s: no %s under %s: skipped", EnvPeers, p.Module, filepath.Join(dir, "src"))
			continue
		}
		// The revision laid out (peers.txt), else the one the options
		// were written for, marked unverified.
		rev := p.Version + " (unverified)"
		if fields := strings.Fields(versions[p.Module]); len(fields) > 0 {
			rev = fields[0]
			if rev != p.Version && !strings.HasPrefix(p.Version, rev+"-") {
				t.Logf("%s: %s is at %s; its options were written for %s", EnvPeers, p.Module, rev, p.Version)
			}
		}
		plugins = append(plugins, traefikrun.LocalPlugin{Alias: p.Alias, ModuleName: p.Module, Source: src})
		for _, alg := range p.Algs {
			c := cases[alg]
			if c == nil {
				continue
			}
			r := &route{
				name:  "peer-" + p.Short + "-" + strings.ToLower(alg),
				label: fmt.Sprintf("%s %s, %s", p.Label, rev, alg),
				mw:    m{"plugin": m{p.Alias: p.Config(*c, jwks)}},
				optIn: true, peer: p.Label, jwtCase: c,
				headers: browserHeaders("theme=dark; userToken=" + c.Token),
			}
			if p.Header {
				r.headers = browserHeaders("theme=dark", "Authorization", "Bearer "+c.Token)
			}
			if p.UserID {
				r.wantUserID = "1"
			}
			rs = append(rs, r)
		}
	}
	if len(plugins) == 0 {
		t.Fatalf("%s=%s: none of the peers is there (<dir>/src/<module path>/.traefik.yml; see test/benchtraefik/peers/layout.sh)", EnvPeers, dir)
	}
	return rs, plugins
}

// jwksServer serves c's HMAC secret as a JWKS (one "oct" key without a
// kid, as the HS256 token names none) until the test ends.
func jwksServer(t testing.TB, c *JWTCase) string {
	if c == nil {
		t.Fatal("peers: no HS256 case for the JWKS")
	}
	body, err := json.Marshal(m{"keys": []interface{}{m{
		"kty": "oct", "alg": c.Alg, "use": "sig", "k": base64.RawURLEncoding.EncodeToString([]byte(c.Key)),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

// waitPeers waits (15 s at most per route) until every peer route answers
// 200: a peer that fetches its keys in the background (a JWKS) refuses
// tokens until it has them.
func (b *bench) waitPeers(rs []*route) {
	for _, r := range rs {
		if r.peer == "" {
			continue
		}
		req := Request(r.name+".test", requestPath, r.headers...)
		c := NewConn(b.addr, 5*time.Second)
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := c.Do(req)
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				b.t.Fatalf("peer route %s: no 200 in 15 s (last: status %d, %v)", r.name, status, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
}

// authlayerChecks is what authlayer's jwt routes verify besides the
// signature.
const authlayerChecks = "alg allow-list, kid, strict base64url, duplicate claims refused, exp/nbf, iss, aud"

// peerTable compares the peers' routes with authlayer's jwt routes (and
// the empty plugin, the floor), when peers ran: the ratio to no middleware
// per round, the CPU-bound estimate, Traefik's CPU per request over no
// middleware, and the throughput against authlayer's route verifying the
// same token on every request, per round.
func peerTable(rs []*route, results map[string][]measurement) string {
	peers := false
	for _, r := range rs {
		peers = peers || r.peer != ""
	}
	if !peers {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\nPeers (%s=%s): Yaegi JWT plugins verifying the same token as authlayer's jwt-<alg> route, in the same Traefik and rounds; ratios per round, medians (range); the CPU-bound estimate as in the routes table:\n\n", EnvPeers, os.Getenv(EnvPeers))
	s.WriteString("| route | token in | × no middleware | CPU-bound estimate | Traefik CPU µs/req over none | × authlayer verifying the same token per request |\n|---|---|---|---|---|---|\n")
	cpu := func(name string) float64 {
		return medianOf(results[name], func(x measurement) float64 { return float64(x.cpuPerReq) })
	}
	all := func(name string) float64 {
		return cpu(name) + medianOf(results[name], func(x measurement) float64 { return float64(x.genCPUPerReq) })
	}
	perRound := func(a, bname string) string {
		ma, mb := results[a], results[bname]
		if len(ma) == 0 || len(mb) != len(ma) {
			return "–"
		}
		xs := make([]float64, len(ma))
		for i := range ma {
			xs[i] = ma[i].rps / mb[i].rps
		}
		lo, hi := minMax(xs)
		return fmt.Sprintf("%.2f (%.2f–%.2f)", median(xs), lo, hi)
	}
	checks := []string{"authlayer: " + authlayerChecks}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.name != "empty" && !r.jwt && r.peer == "" && !r.floor {
			continue
		}
		in, vsAuthlayer := "cookie", "–"
		switch {
		case r.name == "empty":
			in = "–"
		case r.floor:
			vsAuthlayer = perRound(r.name, "jwt-"+r.jwtCase.Name)
		case r.peer != "":
			for _, p := range peerPlugins {
				if p.Label != r.peer {
					continue
				}
				if p.Header {
					in = "Authorization"
				}
				if !seen[p.Label] {
					seen[p.Label] = true
					checks = append(checks, p.Label+": "+p.Checks)
				}
			}
			vsAuthlayer = perRound(r.name, "jwt-"+r.jwtCase.Name)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %.2f | %+.0f | %s |\n", r.label, in,
			perRound(r.name, "none"), all("none")/all(r.name), (cpu(r.name)-cpu("none"))/1e3, vsAuthlayer)
	}
	s.WriteString("\nWhat each verifies besides the signature:\n\n- " + strings.Join(checks, "\n- ") + "\n")
	return s.String()
}

// TestPeerRoutesFollowTheLayout: with BENCH_PEERS set, every peer laid out
// there gets a local plugin and a route per algorithm it supports, sending
// the token of authlayer's route for that algorithm; a peer missing from
// the directory is skipped; the JWKS the bench serves holds the HMAC
// secret.
func TestPeerRoutesFollowTheLayout(t *testing.T) {
	dir := t.TempDir()
	for _, mod := range []string{"github.com/traefik-plugins/traefik-jwt-plugin", "github.com/23deg/jwt-middleware"} {
		src := filepath.Join(dir, "src", filepath.FromSlash(mod))
		if err := os.MkdirAll(src, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, ".traefik.yml"), []byte("import: "+mod+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "peers.txt"), []byte("github.com/23deg/jwt-middleware v0.1.3 0123abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPeers, dir)
	all := jwtRoutes(t, &Backend{URL: "http://127.0.0.1:1"})
	rs, plugins := peerRoutes(t, all)

	if len(plugins) != 2 || plugins[0].Alias != "peer-tjp" || plugins[1].Alias != "peer-23deg" {
		t.Fatalf("local plugins %+v", plugins)
	}
	tokens := map[string]string{}
	for _, r := range all {
		if r.jwtCase != nil {
			tokens[r.jwtCase.Alg] = r.jwtCase.Token
		}
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.name)
		req := string(Request("x", "/", r.headers...))
		if !strings.Contains(req, tokens[r.jwtCase.Alg]) || !r.optIn {
			t.Errorf("route %s: request %q does not carry authlayer's %s token (or is not opt-in)", r.name, req, r.jwtCase.Alg)
		}
	}
	if got := strings.Join(names, ","); got != "peer-tjp-hs256,peer-tjp-rs256,peer-tjp-es256,peer-23deg-hs256" {
		t.Fatalf("routes %s", got)
	}
	if !strings.Contains(rs[3].label, "v0.1.3") || !strings.Contains(rs[0].label, "unverified") {
		t.Errorf("labels %q, %q", rs[3].label, rs[0].label)
	}
	if !strings.Contains(string(Request("x", "/", rs[3].headers...)), "Authorization: Bearer ") {
		t.Error("23deg reads the Authorization header only")
	}

	opts := rs[0].mw["plugin"].(m)["peer-tjp"].(m)
	url := opts["Keys"].([]interface{})[0].(string)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var set struct {
		Keys []struct{ Kty, K string } `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v %+v", err, set)
	}
	secret, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].K)
	if set.Keys[0].Kty != "oct" || string(secret) != tokensKey(all, "HS256") {
		t.Errorf("JWKS key %+v is not the HS256 secret", set.Keys[0])
	}
}

func tokensKey(all []*route, alg string) string {
	for _, r := range all {
		if r.jwtCase != nil && r.jwtCase.Alg == alg {
			return r.jwtCase.Key
		}
	}
	return ""
}
