package authlayer

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/authlayer/authlayer/internal/opts"
)

// headerSettings are the upstream identity headers, by canonical name.
type headerSettings struct {
	user, userID, tokenType, refreshed string
	verifiedBy                         string // "" when headers.verifiedBy is empty
	forwardAuthorization               bool
	// owned holds every header authlayer sets, normalised (lower case, "_"
	// and "." as "-"), and ownedLengths their lengths, a cheap pre-check.
	owned        map[string]bool
	ownedLengths map[int]bool
	// safe holds common request header names, exactly as Go's server
	// spells them, that are none of the owned ones: a key found here needs
	// no folding (one map look-up per header instead of several calls).
	safe map[string]bool
}

const authorizationHeader = "Authorization"

func newHeaderSettings(h HeadersConfig) (headerSettings, error) {
	hs := headerSettings{forwardAuthorization: h.ForwardAuthorization, owned: map[string]bool{}, ownedLengths: map[int]bool{}}
	names := []struct {
		option string
		value  string
		target *string
	}{
		{"headers.user", h.User, &hs.user},
		{"headers.userId", h.UserID, &hs.userID},
		{"headers.tokenType", h.TokenType, &hs.tokenType},
		{"headers.refreshedToken", h.RefreshedToken, &hs.refreshed},
	}
	if strings.TrimSpace(h.VerifiedBy) != "" {
		names = append(names, struct {
			option string
			value  string
			target *string
		}{"headers.verifiedBy", h.VerifiedBy, &hs.verifiedBy})
	}
	for _, n := range names {
		v := strings.TrimSpace(n.value)
		if !validHeaderName(v) {
			return hs, opts.Error(n.option, "%q is not a valid header name", n.value)
		}
		key := normalizeHeaderName(v)
		if hs.owned[key] || reservedHeaders[key] {
			return hs, opts.Error(n.option, "%s is used twice or reserved", v)
		}
		hs.own(key)
		*n.target = http.CanonicalHeaderKey(v)
	}
	if hs.forwardAuthorization {
		hs.own(normalizeHeaderName(authorizationHeader))
	}
	hs.safe = map[string]bool{}
	for _, name := range commonRequestHeaders {
		if !hs.owned[normalizeHeaderName(name)] {
			hs.safe[name] = true
		}
	}
	return hs, nil
}

// commonRequestHeaders are the names browsers and proxies send on most
// requests, canonical as Go's server delivers them.
var commonRequestHeaders = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
	"Baggage", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
	"Content-Type", "Cookie", "Dnt", "Forwarded", "If-Match", "If-Modified-Since",
	"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
	"Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform",
	"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
	"Sec-Websocket-Extensions", "Sec-Websocket-Key", "Sec-Websocket-Protocol",
	"Sec-Websocket-Version", "Te", "Traceparent", "Tracestate", "Upgrade",
	"Upgrade-Insecure-Requests", "User-Agent", "Via", "X-Csrf-Token", "X-Forwarded-For",
	"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Proto",
	"X-Forwarded-Server", "X-Real-Ip", "X-Requested-With",
}

// reservedHeaders cannot carry identity: overwriting them breaks the request.
var reservedHeaders = map[string]bool{
	"host": true, "cookie": true, "content-length": true, "content-type": true,
	"connection": true, "transfer-encoding": true, "authorization": true,
}

func (hs *headerSettings) own(normalized string) {
	hs.owned[normalized] = true
	hs.ownedLengths[len(normalized)] = true
}

// normalizeHeaderName folds the spellings that CGI, WSGI, PHP and nginx
// treat as one header: any case, and any character HTTP allows in a name
// other than a letter, a digit or "-" ("!#$%&'*+.^_`|~") in place of "-":
// those backends turn every one of them into "_", so X~Auth~User is
// X-Auth-User to them (oauth2-proxy CVE-2025-64484; Traefik's
// aliasHeadersStrategy documents the same class).
func normalizeHeaderName(name string) string {
	return headerAliasFolder.Replace(strings.ToLower(name))
}

var headerAliasFolder = strings.NewReplacer(
	"_", "-", ".", "-", "!", "-", "#", "-", "$", "-", "%", "-", "&", "-", "'", "-",
	"*", "-", "+", "-", "^", "-", "`", "-", "|", "-", "~", "-",
)

// stripIdentityHeaders removes every client-supplied copy of the headers
// authlayer sets, aliases included, so the app can trust them. It reports
// whether the request carries any header outside the common set: without
// one, it cannot carry a method override or a prefetch marker either, and
// the checks for those can be skipped.
//
// The common request has only common headers; the standard library tells
// so in one compiled call (WriteSubset writes nothing when every name is
// excluded), where an interpreted loop over the header map costs a few
// allocations per header. A name present with no value is not written:
// it carries nothing to trust or to override with, and the proxy sends no
// line for it. WriteSubset also skips a name that is not a valid field
// name, which Go's server never delivers; and every name that folds to an
// owned one is valid (normalizeHeaderName folds only token characters).
func stripIdentityHeaders(hs *headerSettings, req *http.Request) bool {
	var others bytes.Buffer
	if req.Header.WriteSubset(&others, hs.safe) != nil || others.Len() == 0 {
		return false
	}
	stripOwned(hs, req)
	return true
}

// stripOwned is stripIdentityHeaders for a request with uncommon headers.
func stripOwned(hs *headerSettings, req *http.Request) {
	for name := range req.Header {
		if !hs.safe[name] {
			stripIfOwned(hs, req, name)
		}
	}
}

// stripIfOwned removes name if it is, or aliases, a header authlayer sets.
func stripIfOwned(hs *headerSettings, req *http.Request, name string) {
	if hs.ownedLengths[len(name)] && hs.owned[normalizeHeaderName(name)] {
		delete(req.Header, name)
	}
}

// setIdentityHeaders gives the upstream the session's identity. The value
// slices were built once when the token was validated (see identity) and
// are shared by the requests of one session: nothing downstream writes
// into a header's value slice in place (Set, Add and Clone make new ones),
// and their capacity equals their length so an append cannot reach them.
// Authorization is built here, so a cached session holds its token once
// (see identity).
func setIdentityHeaders(hs *headerSettings, req *http.Request, res *authResult) {
	id := res.id
	if id == nil {
		return
	}
	h := req.Header
	h[hs.user] = id.userValues
	if id.userIDValues != nil {
		h[hs.userID] = id.userIDValues
	}
	if id.tokenTypeValues != nil {
		h[hs.tokenType] = id.tokenTypeValues
	}
	if hs.forwardAuthorization {
		h[authorizationHeader] = []string{"Bearer " + id.token}
	}
	if hs.verifiedBy != "" {
		h[hs.verifiedBy] = id.verifiedValues
	}
}

// setRefreshedHeader hands the app a token refreshed or minted on this
// request (never on a remembered session's: those are settled).
func setRefreshedHeader(hs *headerSettings, req *http.Request, res *authResult) {
	req.Header[hs.refreshed] = []string{res.refreshed}
}
