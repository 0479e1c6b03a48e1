// Package jwt verifies authlayer's tokens locally (jwt.enabled): a compact
// JWS read strictly (Verify, with parse.go's header and JSON checks), its
// algorithm against the allow-list, the key its header names (keys.go:
// configured PEM and JWK keys; jwks.go: the issuer's key set fetched on
// demand), the signature, then the claims.
// Compile turns the jwt.* options into Settings once; Verify checks one
// token. Where a verdict meets the token flow (jwt.mode, caching it, the
// identity built from the claims) is the root package's jwtflow.go.
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"log"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Local verification of one token: its structure (Verify and parse.go),
// its algorithm against the allow-list, the key its header names, the
// signature, then the claims. The answer is one of four: good, bad (a
// definite refusal, as a backend's 401), uncheckable (no key or algorithm
// here can check it: jwt.mode decides), or keys unavailable (the JWKS
// could not be fetched, or not yet refetched for a new kid: a transient
// failure, never a refusal).

// algorithm is what one "alg" value means.
type algorithm struct {
	family    string
	hash      crypto.Hash // none for EdDSA
	pss       bool
	curve     string // ES: the curve its key must be on
	size      int    // ES: bytes per signature half
	minSecret int    // HS: the hash's size, the shortest secret allowed
}

var algorithms = map[string]algorithm{
	"HS256": {family: familyHMAC, hash: crypto.SHA256, minSecret: 32},
	"HS384": {family: familyHMAC, hash: crypto.SHA384, minSecret: 48},
	"HS512": {family: familyHMAC, hash: crypto.SHA512, minSecret: 64},
	"RS256": {family: familyRSA, hash: crypto.SHA256},
	"RS384": {family: familyRSA, hash: crypto.SHA384},
	"RS512": {family: familyRSA, hash: crypto.SHA512},
	"PS256": {family: familyRSA, hash: crypto.SHA256, pss: true},
	"PS384": {family: familyRSA, hash: crypto.SHA384, pss: true},
	"PS512": {family: familyRSA, hash: crypto.SHA512, pss: true},
	"ES256": {family: familyEC, hash: crypto.SHA256, curve: "P-256", size: 32},
	"ES384": {family: familyEC, hash: crypto.SHA384, curve: "P-384", size: 48},
	"ES512": {family: familyEC, hash: crypto.SHA512, curve: "P-521", size: 66},
	"EdDSA": {family: familyOKP, curve: "Ed25519"},
}

// Verdict is a local verification's answer. The zero value refuses.
type Verdict int

const (
	Bad             Verdict = iota // definite: forged, malformed, expired, wrong issuer …
	Good                           // signature and claims hold
	Uncheckable                    // no key or algorithm here to check it
	KeysUnavailable                // the JWKS could not be fetched
)

// Result is one verification: the verdict, the claims of a good token
// and a short reason for the audit log (never token material).
type Result struct {
	Verdict Verdict
	Claims  map[string]interface{} // Good only
	Payload []byte                 // Good only: the claims' JSON as signed
	Exp     int64                  // Good only: the exp claim, in seconds since the epoch
	Reason  string
}

func refuse(reason string) Result { return Result{Verdict: Bad, Reason: reason} }

// Verify checks token locally with j's keys and jw's (nil: no JWKS); a
// JWKS fetch it needs waits until deadline at most.
//
// The token is read strictly before any key is looked at: a size cap
// first (j.maxTokenBytes, the longest cookie), exactly three segments,
// canonical unpadded base64url (strictB64: only the alphabet, zero
// trailing bits; CR and LF, which that decoder skips, are refused here
// for the whole token), a checked header (parse.go), then the algorithm
// against the allow-list, the signature, and the claims.
//
// Written flat, with the HMAC check inline and the answer built in its
// named result: under Yaegi every call allocates the callee's whole frame
// and every result value a slot, and this runs on every token that is not
// cached. The strict JSON and the claims checks are functions of their
// own, as are the rare steps: a header not seen before, asymmetric keys,
// a present nbf.
func Verify(j *Settings, jw *KeySet, token string, deadline time.Time) (r Result) {
	r.Reason = "malformed" // until the token is read
	if len(token) > j.maxTokenBytes {
		return // before any decoding
	}
	seg := strings.SplitN(token, ".", 4)
	if len(seg) != 3 || strings.ContainsAny(token, "\r\n") {
		return
	}
	payload, err1 := strictB64.DecodeString(seg[1])
	signature, err2 := strictB64.DecodeString(seg[2])
	if err1 != nil || err2 != nil || len(payload) == 0 || len(signature) == 0 {
		return
	}
	v, remembered := headerMemo.Load(seg[0])
	h, _ := v.(*checkedHeader)
	if !remembered {
		var problem string
		if h, problem = checkHeader(seg[0]); h == nil {
			return refusedHeader(problem)
		}
	}
	if !j.algorithms[h.name] {
		r.Verdict = Uncheckable
		r.Reason = "algorithm"
		return
	}
	signed := token[:len(seg[0])+1+len(seg[1])]
	if h.hmacHash == nil {
		if verdict, reason := asymmetricVerdict(j, jw, signed, signature, h, deadline); verdict != Good {
			r.Verdict = verdict // one field per statement (Yaegi)
			r.Reason = reason
			return
		}
	} else {
		// HS: a kid that names a public key refuses the token (not an
		// HMAC token); without a secret nothing is valid; the comparison
		// is constant-time.
		if h.kid != "" && keyNamed(j.keys, h.kid) {
			r.Reason = "kid-mismatch"
			return
		}
		mac := hmac.New(h.hmacHash, j.secret)
		mac.Write([]byte(signed))
		if len(j.secret) == 0 || !hmac.Equal(mac.Sum(nil), signature) {
			r.Reason = "signature"
			return
		}
	}
	if !remembered {
		rememberHeader(seg[0], h)
	}
	claims, ok := decodeStrictObject(payload)
	if !ok {
		r.Reason = "malformed"
		return
	}
	exp, reason := claimsProblem(j, claims, time.Now())
	if reason != "" {
		r.Reason = reason
		return
	}
	r.Verdict = Good
	r.Reason = ""
	r.Claims = claims
	r.Payload = payload
	r.Exp = exp
	return
}

// refusedHeader is checkHeader's problem as a verdict: an algorithm
// unknown here is uncheckable (jwt.mode decides), anything else is
// refused.
func refusedHeader(problem string) Result {
	if problem == "algorithm" {
		return Result{Verdict: Uncheckable, Reason: "algorithm"}
	}
	return refuse(problem)
}

// headerKid reads the optional kid header, which must be a string.
func headerKid(header map[string]interface{}) (string, bool) {
	v, present := header["kid"]
	if !present {
		return "", true
	}
	kid, ok := v.(string)
	return kid, ok
}

// asymmetricVerdict checks an RS, PS, ES or EdDSA signature: it finds
// the keys that may check it and tries them. Keys the token names or
// carries itself (jku, x5u, jwk, x5c) are ignored: only configured and
// fetched keys count. Without a JWKS the fitting keys are remembered per
// algorithm and kid (Settings.staticFits).
func asymmetricVerdict(j *Settings, jw *KeySet, signed string, sig []byte, h *checkedHeader, deadline time.Time) (Verdict, string) {
	name, a, kid := h.name, h.a, h.kid
	var keys []*pubKey
	if v, known := j.staticFits.Load(name + " " + kid); known && jw == nil {
		keys = v.([]*pubKey)
	} else {
		var verdict Verdict
		var reason string
		if keys, verdict, reason = keysFor(j, jw, name, a, kid, deadline); verdict != Good {
			return verdict, reason
		}
		if jw == nil {
			j.staticFits.Store(name+" "+kid, keys)
		}
	}
	for _, key := range keys {
		if signatureValid(key, a, signed, sig) {
			return Good, ""
		}
	}
	return Bad, "signature"
}

// keysFor returns the keys that fit alg and kid: the configured ones
// and the JWKS's, fetched on first need, when stale, and again when no key
// answers to the kid (within the unknown kids' budget, jwks.go). A kid
// still unknown after a fresh fetch is uncheckable; one whose refetch had
// to wait (the budget, or the issuer down) is a transient failure, so a
// token signed with a key published a moment ago never ends a session.
func keysFor(j *Settings, jw *KeySet, name string, a algorithm, kid string, deadline time.Time) ([]*pubKey, Verdict, string) {
	fetched, loaded, _ := fetchedKeys(jw, false, kid, deadline)
	fit, named := fittingKeys(j.keys, fetched, name, a, kid)
	if len(fit) == 0 && !named && jw != nil {
		var renewed bool
		fetched, loaded, renewed = fetchedKeys(jw, true, kid, deadline)
		fit, named = fittingKeys(j.keys, fetched, name, a, kid)
		if len(fit) == 0 && !named && loaded && !renewed {
			return nil, KeysUnavailable, "jwks-refetch-spaced"
		}
	}
	switch {
	case len(fit) > 0:
		return fit, Good, ""
	case named:
		return nil, Bad, "kid-mismatch" // the kid names a key of another type or algorithm
	case jw != nil && !loaded:
		return nil, KeysUnavailable, "jwks-unavailable"
	}
	warnKidlessKeys(j, fetched, name, a, kid)
	return nil, Uncheckable, "unknown-key"
}

// fittingKeys returns the keys that may check alg: a token that names a
// kid is checked only by the keys with that kid; a token without a kid by
// every key. A key without a kid therefore never checks a token that
// names one, whatever the kid. named reports that some key carries the
// kid, fitting or not.
func fittingKeys(static, fetched []*pubKey, name string, a algorithm, kid string) (fit []*pubKey, named bool) {
	for _, list := range [2][]*pubKey{static, fetched} {
		for _, key := range list {
			if kid != "" && key.kid != kid {
				continue
			}
			if kid != "" {
				named = true
			}
			if keyFits(key, name, a) {
				fit = append(fit, key)
			}
		}
	}
	return fit, named
}

// warnKidlessKeys logs, once per configuration, that a token named a kid
// no key carries while a key without a kid would have fitted it: keys
// without a kid check only tokens without one, and the operator may have
// meant to name the key. Neither the kid nor the token is logged.
func warnKidlessKeys(j *Settings, fetched []*pubKey, name string, a algorithm, kid string) {
	if kid == "" || j.warnedKidless.Load() {
		return
	}
	option := ""
	if kidlessFit(j.keys, name, a) {
		option = "jwt.publicKeys"
	} else if kidlessFit(fetched, name, a) {
		option = "jwt.jwksUrl"
	}
	if option != "" && !j.warnedKidless.Swap(true) {
		log.Printf("authlayer: %s: a token names a kid that no key carries, and a key without a kid would fit it: a key without a kid checks only tokens without one (give the key its kid: a PEM header \"kid: <id>\", or the JWK's \"kid\")", option)
	}
}

func kidlessFit(keys []*pubKey, name string, a algorithm) bool {
	for _, key := range keys {
		if key.kid == "" && keyFits(key, name, a) {
			return true
		}
	}
	return false
}

func keyNamed(keys []*pubKey, kid string) bool {
	for _, key := range keys {
		if key.kid == kid {
			return true
		}
	}
	return false
}

// signatureValid checks one asymmetric signature.
func signatureValid(key *pubKey, a algorithm, signed string, sig []byte) bool {
	if a.family == familyRSA && !a.pss {
		return rsa.VerifyPKCS1v15(key.rsa, a.hash, digestOf(a.hash, signed), sig) == nil
	}
	return otherSignatureValid(key, a, signed, sig)
}

// otherSignatureValid is signatureValid for PS, ES and EdDSA (RS, the
// most common, has the short path).
func otherSignatureValid(key *pubKey, a algorithm, signed string, sig []byte) bool {
	switch a.family {
	case familyRSA:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}
		return rsa.VerifyPSS(key.rsa, a.hash, digestOf(a.hash, signed), sig, opts) == nil
	case familyEC:
		// JWS signs ES as r||s, each half exactly the curve's size.
		if len(sig) != 2*a.size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:a.size])
		s := new(big.Int).SetBytes(sig[a.size:])
		return ecdsa.Verify(key.ec, digestOf(a.hash, signed), r, s)
	case familyOKP:
		return ed25519.Verify(key.ed, []byte(signed), sig)
	}
	return false
}

func digestOf(h crypto.Hash, msg string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(msg))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(msg))
		return d[:]
	}
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

// claimsProblem checks the registered claims; "" means they hold, and
// exp is the exp claim in seconds. exp is required: a token that never
// expires cannot be verified locally. The instants are compared as integer
// nanoseconds, with the arithmetic of time.Time's After and Before (a
// NumericDate is whole seconds, as ClaimTime reads it): fewer calls under
// Yaegi than time.Time's methods. iss and aud are checked here too (a
// deployment that verifies locally should configure both: one call fewer
// on every token); a present nbf in its own function.
func claimsProblem(j *Settings, claims map[string]interface{}, now time.Time) (int64, string) {
	// claimSeconds' reading of exp, written out here (one frame fewer on
	// every verification): a positive JSON number up to 1e11 seconds.
	n, isNumber := claims["exp"].(json.Number)
	if !isNumber {
		return 0, "no-exp" // absent, or not a number
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f <= 0 || f > 1e11 {
		return 0, "no-exp"
	}
	exp, nowNanos := int64(f), now.UnixNano()
	if exp < nanosBound && exp*nanosPerSecond+int64(j.Leeway) < nowNanos {
		return 0, "expired" // after exp + leeway (an exp past 2255 is never)
	}
	if _, hasNbf := claims["nbf"]; hasNbf {
		if reason := nbfProblem(j, claims, nowNanos); reason != "" {
			return exp, reason
		}
	}
	if j.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != j.issuer {
			return exp, "issuer"
		}
	}
	if len(j.audience) == 0 {
		return exp, ""
	}
	// audienceMatches' first case, a string (the common one), inlined.
	if aud, isString := claims["aud"].(string); isString && j.audienceSet[aud] {
		return exp, ""
	}
	if !audienceMatches(j.audienceSet, claims["aud"]) {
		return exp, "audience"
	}
	return exp, ""
}

// nbfProblem checks a present nbf: "" when it holds.
func nbfProblem(j *Settings, claims map[string]interface{}, nowNanos int64) string {
	nbf, ok := claimSeconds(claims, "nbf")
	if !ok {
		return "malformed"
	}
	if nbf >= nanosBound || nowNanos+int64(j.Leeway) < nbf*nanosPerSecond {
		return "not-yet-valid" // now + leeway before nbf
	}
	return ""
}

// Whole seconds below nanosBound, in nanoseconds, plus a leeway (at most
// 5m), fit an int64 (and so does time.Now().UnixNano() until 2262).
const (
	nanosPerSecond = 1000000000
	nanosBound     = 9000000000
)

// claimSeconds is ClaimTime in whole seconds since the epoch: -1 when
// absent, not ok when not a plausible number.
func claimSeconds(claims map[string]interface{}, name string) (int64, bool) {
	v, present := claims[name]
	if !present {
		return -1, true
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f <= 0 || f > 1e11 {
		return 0, false
	}
	return int64(f), true
}

// ClaimTime reads a NumericDate claim of claims decoded with json.Number
// (jsonpath.Decode): zero when absent, not ok when it is not a plausible
// number.
func ClaimTime(claims map[string]interface{}, name string) (time.Time, bool) {
	seconds, ok := claimSeconds(claims, name)
	if !ok || seconds < 0 {
		return time.Time{}, ok // absent (-1): zero and ok
	}
	return time.Unix(seconds, 0), true
}

// audienceMatches accepts aud as a string or an array of strings, one
// of them in want (j.audience as a set, built by Compile).
func audienceMatches(want map[string]bool, aud interface{}) bool {
	if s, isString := aud.(string); isString {
		return want[s]
	}
	list, _ := aud.([]interface{})
	for _, v := range list {
		if s, isString := v.(string); isString && want[s] {
			return true
		}
	}
	return false
}
