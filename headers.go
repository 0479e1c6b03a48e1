package authlayer

import (
	"net/http"
	"strings"
)

// headerSettings are the upstream identity headers, by canonical name.
type headerSettings struct {
	user, userID, tokenType, refreshed string
	forwardAuthorization               bool
	// owned holds every header authlayer sets, normalised (lower case, "_"
	// and "." as "-"), and ownedLengths their lengths, a cheap pre-check.
	owned        map[string]bool
	ownedLengths map[int]bool
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
	for _, n := range names {
		v := strings.TrimSpace(n.value)
		if !validHeaderName(v) {
			return hs, optionError(n.option, "%q is not a valid header name", n.value)
		}
		key := normalizeHeaderName(v)
		if hs.owned[key] || reservedHeaders[key] {
			return hs, optionError(n.option, "%s is used twice or reserved", v)
		}
		hs.own(key)
		*n.target = http.CanonicalHeaderKey(v)
	}
	if hs.forwardAuthorization {
		hs.own(normalizeHeaderName(authorizationHeader))
	}
	return hs, nil
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

// normalizeHeaderName folds the spellings that PHP, WSGI and nginx treat as
// one header: any case, "_" or "." for "-" (oauth2-proxy CVE-2025-64484).
func normalizeHeaderName(name string) string {
	return headerAliasFolder.Replace(strings.ToLower(name))
}

var headerAliasFolder = strings.NewReplacer("_", "-", ".", "-")

// strip removes every client-supplied copy of the headers authlayer sets,
// aliases included, so the app can trust them.
func (hs *headerSettings) strip(req *http.Request) {
	for name := range req.Header {
		if hs.ownedLengths[len(name)] && hs.owned[normalizeHeaderName(name)] {
			delete(req.Header, name)
		}
	}
}

// set gives the upstream the session's identity.
func (hs *headerSettings) set(req *http.Request, res authResult) {
	if res.id != nil {
		req.Header[hs.user] = []string{res.id.userHeader}
		if res.id.userID != "" {
			req.Header[hs.userID] = []string{res.id.userID}
		}
		req.Header[hs.tokenType] = []string{res.id.tokenType}
		if hs.forwardAuthorization {
			req.Header[authorizationHeader] = []string{"Bearer " + res.token}
		}
	}
	if res.refreshed != "" {
		req.Header[hs.refreshed] = []string{res.refreshed}
	}
}
