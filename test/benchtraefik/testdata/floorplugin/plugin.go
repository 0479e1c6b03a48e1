// Package floorplugin is a measuring instrument, not a product: the work
// authlayer does for a local HS256 token, written as flat as Go allows
// (three functions), so a benchmark can tell how much of authlayer's cost
// is the work itself under Yaegi and how much is its structure (calls and
// the frame slots each function declares).
//
// It does what authlayer does on the two paths it measures, with the same
// standard-library calls:
//
//   - every request: the client's identity-header check (one
//     Header.WriteSubset over the uncommon names), the route memo look-up;
//   - with cache on, a remembered session: the memo keyed by the Cookie
//     header, the four identity headers, the app;
//   - otherwise the whole verification: the Cookie header parsed with a
//     repeated name refused, three segments, strict base64url, the header
//     (checked once, then remembered), HMAC-SHA256, the claims as one JSON
//     object without repeated keys, depth bound and a float64 range check,
//     exp with leeway, iss, aud, the logged-out marks, the token type and
//     user id as header-safe text, the user object base64-encoded, then
//     the headers and the app.
//
// It has no refresh, no guest, no access rules beyond the memo: a token
// that fails gets a 401.
package floorplugin

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config names the token's cookie, its HMAC secret, the iss and aud it
// must carry, and whether verified sessions are remembered (Cache).
type Config struct {
	Cookie   string `json:"cookie"`
	Secret   string `json:"secret"`
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	Cache    bool   `json:"cache"`
}

// CreateConfig returns the defaults.
func CreateConfig() *Config { return &Config{Cookie: "userToken"} }

type session struct {
	user, userID, tokenType, verified []string
	roles                             []string // for access rules, as authlayer keeps them
	until                             time.Time
}

type floor struct {
	next                 http.Handler
	cookie, iss, aud     string
	secret               []byte
	cache                bool
	safe                 map[string]bool
	headerOK             sync.Map // header segment → true
	routesMu             sync.RWMutex
	routes               map[string]bool
	memoMu               sync.RWMutex
	memo                 map[string]*session
	marksMu              sync.Mutex
	marks                map[string]int64 // logged-out token hash → until
	user, userID, ttype  string
	verifiedBy           string
	strictB64            *base64.Encoding
	tooDeep, opens, tops []byte
}

// New builds the floor.
func New(_ context.Context, next http.Handler, c *Config, _ string) (http.Handler, error) {
	safe := map[string]bool{}
	for _, n := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Connection",
		"Cookie", "Dnt", "Pragma", "Priority", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Upgrade-Insecure-Requests",
		"User-Agent", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto",
		"X-Forwarded-Server", "X-Real-Ip"} {
		safe[n] = true
	}
	return &floor{
		next: next, cookie: c.Cookie, iss: c.Issuer, aud: c.Audience, secret: []byte(c.Secret), cache: c.Cache,
		safe: safe, routes: map[string]bool{}, memo: map[string]*session{}, marks: map[string]int64{},
		user: "X-Auth-User", userID: "X-Auth-User-Id", ttype: "X-Auth-Token-Type", verifiedBy: "X-Auth-Verified-By",
		strictB64: base64.RawURLEncoding.Strict(),
		tooDeep:   []byte("\n" + strings.Repeat("\t", 33)), opens: []byte("{\n"), tops: []byte("\n\t\""),
	}, nil
}

func (p *floor) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var others bytes.Buffer
	if req.Header.WriteSubset(&others, p.safe) == nil && others.Len() > 0 {
		for name := range req.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-auth-") {
				delete(req.Header, name)
			}
		}
	}
	p.routesMu.RLock()
	_, known := p.routes[req.URL.Path]
	p.routesMu.RUnlock()
	if !known {
		p.routesMu.Lock()
		p.routes[req.URL.Path] = false
		p.routesMu.Unlock()
	}
	if h := req.Header["Cookie"]; p.cache && len(h) == 1 {
		p.memoMu.RLock()
		s := p.memo[h[0]]
		p.memoMu.RUnlock()
		if s != nil && time.Until(s.until) > 0 {
			hd := req.Header
			hd[p.user] = s.user
			hd[p.userID] = s.userID
			hd[p.ttype] = s.tokenType
			hd[p.verifiedBy] = s.verified
			p.next.ServeHTTP(rw, req)
			return
		}
	}
	p.serveMiss(rw, req)
}

// serveMiss verifies the request's token and remembers the session (with
// cache on): a function of its own, so a remembered session's frame holds
// none of its slots.
func (p *floor) serveMiss(rw http.ResponseWriter, req *http.Request) {
	s := p.verify(req)
	if s == nil {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusUnauthorized)
		_, _ = rw.Write([]byte(`{"error":"invalid token"}`))
		return
	}
	hd := req.Header
	hd[p.user] = s.user
	hd[p.userID] = s.userID
	hd[p.ttype] = s.tokenType
	hd[p.verifiedBy] = s.verified
	if h := req.Header["Cookie"]; p.cache && len(h) == 1 {
		p.memoMu.Lock()
		p.memo[h[0]] = s
		p.memoMu.Unlock()
	}
	p.next.ServeHTTP(rw, req)
}

// verify is the whole verification of the request's token, flat; nil
// refuses.
func (p *floor) verify(req *http.Request) *session {
	token := ""
	for _, c := range req.Cookies() {
		if c.Name == p.cookie {
			if token != "" && token != c.Value {
				return nil // sent twice with different values
			}
			token = c.Value
		}
	}
	seg := strings.SplitN(token, ".", 4)
	if len(token) > 4096 || len(seg) != 3 || strings.ContainsAny(token, "\r\n") {
		return nil
	}
	payload, err1 := p.strictB64.DecodeString(seg[1])
	sig, err2 := p.strictB64.DecodeString(seg[2])
	if err1 != nil || err2 != nil || len(payload) == 0 {
		return nil
	}
	_, remembered := p.headerOK.Load(seg[0])
	if !remembered {
		raw, err := p.strictB64.DecodeString(seg[0])
		var header map[string]interface{}
		if err != nil || json.Unmarshal(raw, &header) != nil || header["alg"] != "HS256" || header["crit"] != nil {
			return nil
		}
	}
	mac := hmac.New(sha256.New, p.secret)
	mac.Write([]byte(token[:len(seg[0])+1+len(seg[1])]))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return nil
	}
	if !remembered {
		p.headerOK.Store(seg[0], true) // a verified token's header only
	}
	var laid bytes.Buffer
	if json.Indent(&laid, payload, "", "\t") != nil || bytes.Contains(laid.Bytes(), p.tooDeep) {
		return nil
	}
	var claims map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var plain interface{}
	if dec.Decode(&claims) != nil || claims == nil || json.Unmarshal(payload, &plain) != nil ||
		bytes.Count(laid.Bytes(), p.opens) != 1 || bytes.Count(laid.Bytes(), p.tops) != len(claims) {
		return nil
	}
	n, _ := claims["exp"].(json.Number)
	exp, err := strconv.ParseFloat(string(n), 64)
	if err != nil || exp <= 0 || exp > 1e11 || int64(exp)*1e9+int64(time.Minute) < time.Now().UnixNano() {
		return nil
	}
	if _, hasNbf := claims["nbf"]; hasNbf {
		return nil // the bench's tokens have none
	}
	if iss, _ := claims["iss"].(string); iss != p.iss {
		return nil
	}
	if aud, _ := claims["aud"].(string); aud != p.aud {
		list, _ := claims["aud"].([]interface{})
		if len(list) != 1 || list[0] != p.aud {
			return nil
		}
	}
	sum := sha256.Sum256([]byte(token))
	p.marksMu.Lock()
	until := p.marks[string(sum[:])]
	p.marksMu.Unlock()
	if until > time.Now().UnixNano() {
		return nil
	}
	ttype, _ := claims["type"].(string)
	userID, _ := claims["sub"].(string)
	if len(ttype) > 256 || strings.Trim(ttype, printableASCII) != "" || len(userID) > 256 || strings.Trim(userID, printableASCII) != "" || ttype == "" || ttype == "guest" {
		return nil
	}
	var roles []string
	list, _ := claims["roles"].([]interface{})
	for _, r := range list {
		if name, ok := r.(string); ok && name != "" {
			roles = append(roles, name)
		}
	}
	return &session{
		roles:     roles,
		user:      []string{base64.StdEncoding.EncodeToString(payload)},
		userID:    []string{userID},
		tokenType: []string{ttype},
		verified:  []string{"local"},
		until:     time.Unix(int64(exp), 0),
	}
}

const printableASCII = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
