package authlayer

import (
	"context"
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"html"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Error pages: what authlayer answers a browser itself (401, 403, 429,
// 503, and the rarer 400, 404, 405, 413), and errorPages.* to replace the
// first four. API clients (isAPIRequest) get JSON, never a page.
//
// The built-in page says what happened in plain words, with a link home
// (routes.homeUrl) and, for 401 and 403, to the login page (routes.loginUrl,
// carrying the current page as the return-to value on a GET); 429 and 503
// also offer to try the page again. It never shows a token, a backend's
// message or any other detail of the refusal: its words come from a fixed
// table, not from the caller's message, and everything in it is escaped.
// It is sent with a strict Content-Security-Policy (no script, no external
// resource; forms only on the 403 page, whose "Sign in with another
// account" posts to endpoints.logout), nosniff and, as every answer of
// authlayer's, no-store.
//
// errorPages.<name> replaces the page for its status:
//
//   - "/path" (optionally "?query"), or "http(s)://host/path", is a page of
//     the app, fetched with a GET through the next handler (the rest of the
//     middleware chain and the app, never over the network) and sent with
//     authlayer's status. The page is kept and served to every refused
//     client, so the fetch is one fixed request that no client has any
//     part in (errorPageRequest): nothing of the refused request (no
//     Cookie, Authorization, User-Agent, Accept-Language, X-Forwarded-*,
//     client address, nor its Host) reaches it. Its Host is the host of an
//     absolute URL, else none (the app sees the address Traefik's service
//     reaches it at, as with passHostHeader: false); with i18n it asks for
//     the request's locale (one of the configured ones), and a copy is
//     kept per locale. It is marked X-Authlayer-Error-Page (a header
//     authlayer owns: a client's copy, in any spelling, is removed like an
//     identity header, so the app can trust it), and authlayer never
//     fetches a page while fetching one (the fetch's context says so), so
//     a second authlayer in the chain does not recurse; a chain that leads
//     back over the network (the app proxying to its own public URL) ends
//     at the first refusal, which finds the page already being fetched. A
//     non-2xx answer, an empty one, one over errorPageMaxBytes or one not
//     given within errorPageTimeout falls back to the built-in page. The
//     result, good or bad, is kept errorPageTTL per status, locale and
//     instance, and one fetch at a time refreshes it: a flood of refusals
//     (429s) costs the app at most one request per status and locale every
//     errorPageTTL. The URL is the operator's, never the client's: the
//     fetch cannot be pointed anywhere else.
//   - "file:<path>" is a local file, read once by New (an unreadable or
//     empty file is an error naming the option).
//
// Such pages are the operator's own HTML, sent as text/html (a fetched
// page keeps its Content-Type), with nosniff and a CSP as strict as the
// built-in page's except that the page may load the app's own styles,
// images and fonts and post forms to the site (configuredPageCSP): no
// script runs in a page served to many clients.

const (
	// errorPageMarker is set on authlayer's fetch of an error page.
	errorPageMarker = "X-Authlayer-Error-Page"
	// errorPageMaxBytes caps a fetched or file page.
	errorPageMaxBytes = 256 << 10
	// errorPageTimeout bounds the fetch of a page from the app.
	errorPageTimeout = 5 * time.Second
	// errorPageTTL is how long a fetched page (or a failed fetch) is
	// reused.
	errorPageTTL = 10 * time.Second
	// builtinPageCSP forbids everything the built-in page does not use.
	builtinPageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	// builtinFormPageCSP is the built-in 403 page's when it offers to sign
	// in with another account: its form posts to endpoints.logout, on this
	// site, which redirects to the login page (form-action also governs
	// the redirect of a form's submission).
	builtinFormPageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	// configuredPageCSP is an errorPages page's: no script, no resource
	// from elsewhere; the app's own styles, images and fonts, and forms
	// posting to the site.
	configuredPageCSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	// errorPageUserAgent is the fetch's User-Agent.
	errorPageUserAgent = "authlayer-error-page"
)

// errorPageFetch marks the context of authlayer's fetch of an error page
// (errorPageFetchKey): no page is fetched while one is.
type errorPageFetch struct{ name string }

var errorPageFetchKey = &errorPageFetch{"authlayer error page fetch"}

// errorPageSettings are the compiled errorPages options: the replaced
// pages by status.
type errorPageSettings struct {
	pages map[int]*errorPage
}

// errorPage is one errorPages option.
type errorPage struct {
	option string // "errorPages.forbidden", for messages
	file   []byte // a file: page, read by New
	// A page of the app: its path, raw query and request line; the host
	// and scheme of an absolute URL ("" for a path).
	path, query, requestURI string
	host, scheme            string

	mu sync.Mutex // protects copies and fetching
	// copies are the last fetch's result per locale ("" without i18n; at
	// most one key per configured locale); fetching, the locales being
	// fetched.
	copies   map[string]*pageCopy
	fetching map[string]bool
}

// pageCopy is the result of one fetch of an app's page.
type pageCopy struct {
	at       time.Time
	ok       bool // a 2xx with a body within the cap
	body     []byte
	ctype    string
	encoding string // Content-Encoding, if the app sent one
	language string // Content-Language
}

func compileErrorPages(c *Config, s *settings) error {
	e := c.ErrorPages
	// The marker of authlayer's fetch is authlayer's alone: a client's
	// copy, in any spelling, is removed on every path like an identity
	// header's (headers.go), whether or not a page is configured.
	marker := normalizeHeaderName(errorPageMarker)
	if s.headers.owned[marker] {
		return opts.Error("headers", "%s is authlayer's error page marker, not an identity header", errorPageMarker)
	}
	s.headers.own(marker)
	s.errorPages.pages = map[int]*errorPage{}
	for _, o := range []struct {
		option, value string
		status        int
	}{
		{"errorPages.unauthorized", e.Unauthorized, http.StatusUnauthorized},
		{"errorPages.forbidden", e.Forbidden, http.StatusForbidden},
		{"errorPages.tooManyRequests", e.TooManyRequests, http.StatusTooManyRequests},
		{"errorPages.unavailable", e.Unavailable, http.StatusServiceUnavailable},
	} {
		p, err := compileErrorPage(o.option, strings.TrimSpace(o.value))
		if err != nil {
			return err
		}
		if p != nil {
			s.errorPages.pages[o.status] = p
		}
	}
	return nil
}

// compileErrorPage checks one option; nil when it is empty.
func compileErrorPage(option, v string) (*errorPage, error) {
	switch {
	case v == "":
		return nil, nil
	case strings.HasPrefix(v, "file:"):
		return readErrorPageFile(option, strings.TrimPrefix(v, "file:"))
	case strings.HasPrefix(v, "/"):
		if !isLocalPath(v) || strings.ContainsAny(v, "#") {
			return nil, opts.Error(option, "%q is not a path on this site such as /errors/403.html", v)
		}
		u, err := url.Parse(v)
		if err != nil {
			return nil, opts.Error(option, "%q is not a path on this site such as /errors/403.html", v)
		}
		return newAppPage(option, u.Path, u.RawQuery, v, "", ""), nil
	case strings.HasPrefix(strings.ToLower(v), "http://") || strings.HasPrefix(strings.ToLower(v), "https://"):
		return compileAbsolutePage(option, v)
	}
	return nil, opts.Error(option, "%q is neither a page of the app (/errors/403.html, https://app.example.com/errors/403.html) nor file:<path>", v)
}

// compileAbsolutePage checks an errorPages URL with a host: the host is
// the Host of the fetch (which still goes through the next handler), its
// path the page's.
func compileAbsolutePage(option, v string) (*errorPage, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(v, "#\\ \t") || u.Opaque != "" {
		return nil, opts.Error(option, "%q is not a URL such as https://app.example.com/errors/403.html", v)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !isLocalPath(path) {
		return nil, opts.Error(option, "%q is not a URL such as https://app.example.com/errors/403.html", v)
	}
	uri := path
	if u.RawQuery != "" {
		uri += "?" + u.RawQuery
	}
	return newAppPage(option, u.Path, u.RawQuery, uri, strings.ToLower(u.Host), strings.ToLower(u.Scheme)), nil
}

func newAppPage(option, path, query, requestURI, host, scheme string) *errorPage {
	if path == "" {
		path = "/"
	}
	return &errorPage{
		option: option, path: path, query: query, requestURI: requestURI, host: host, scheme: scheme,
		copies: map[string]*pageCopy{}, fetching: map[string]bool{},
	}
}

func readErrorPageFile(option, name string) (*errorPage, error) {
	if name == "" {
		return nil, opts.Error(option, "file: needs a path")
	}
	info, err := os.Stat(name)
	if err != nil {
		return nil, opts.Error(option, "cannot read %s: %v", name, err)
	}
	if !info.Mode().IsRegular() || info.Size() > errorPageMaxBytes {
		return nil, opts.Error(option, "%s must be a regular file of at most %d bytes", name, errorPageMaxBytes)
	}
	body, err := os.ReadFile(name) //nolint:gosec // G304: the path is the operator's configuration, read once by New
	if err != nil {
		return nil, opts.Error(option, "cannot read %s: %v", name, err)
	}
	if len(body) == 0 || len(body) > errorPageMaxBytes {
		return nil, opts.Error(option, "%s must hold between 1 and %d bytes", name, errorPageMaxBytes)
	}
	return &errorPage{option: option, file: body}, nil
}

// answerRoute is the route decision for a request answered from a place
// that does not have it at hand (a rare answer: the memo has it).
func answerRoute(m *middleware, req *http.Request) *routeMatch {
	return routeFor(m.routes, req.URL.Path, req.URL.RawPath)
}

// writeErrorPage answers a browser with the page for status: the
// configured one when there is one and it can be had, else the built-in
// page. retry is a 429's Retry-After in seconds (0 otherwise).
func writeErrorPage(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, status int, message string, retry int) {
	if p := m.s.errorPages.pages[status]; p != nil && writeConfiguredPage(m, rw, req, p, status) {
		return
	}
	writeBuiltinPage(m, rw, req, route, status, message, retry)
}

// writeConfiguredPage sends an errorPages page; false when there is none
// to send (the app's page could not be had, or this request is the fetch
// of a page).
func writeConfiguredPage(m *middleware, rw http.ResponseWriter, req *http.Request, p *errorPage, status int) bool {
	h := rw.Header()
	if p.file != nil {
		h.Set("Content-Type", "text/html; charset=utf-8")
		pageSecurityHeaders(h, configuredPageCSP)
		rw.WriteHeader(status)
		_, _ = rw.Write(p.file)
		return true
	}
	if req.Context().Value(errorPageFetchKey) != nil {
		return false // never fetch a page while fetching one
	}
	c := appErrorPage(m, req, p)
	if c == nil || !c.ok {
		return false
	}
	h.Set("Content-Type", c.ctype)
	if c.encoding != "" {
		h.Set("Content-Encoding", c.encoding)
	}
	if c.language != "" {
		h.Set("Content-Language", c.language)
	}
	pageSecurityHeaders(h, configuredPageCSP)
	rw.WriteHeader(status)
	_, _ = rw.Write(c.body)
	return true
}

// pageSecurityHeaders are the headers of every page authlayer sends.
func pageSecurityHeaders(h http.Header, csp string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "same-origin")
}

// appErrorPage returns the app's page: the kept copy while it is fresh,
// else a new fetch, unless another request is fetching it (then the copy
// kept, however old, or nil).
func appErrorPage(m *middleware, req *http.Request, p *errorPage) *pageCopy {
	locale := pageLocale(m, req)
	now := time.Now()
	p.mu.Lock()
	c := p.copies[locale]
	if (c != nil && now.Sub(c.at) < errorPageTTL) || p.fetching[locale] {
		p.mu.Unlock()
		return c
	}
	p.fetching[locale] = true
	p.mu.Unlock()
	fresh := fetchErrorPage(m, req, p, locale)
	p.mu.Lock()
	if fresh.ok || req.Context().Err() == nil {
		// A fetch cut short by this client's own departure says nothing
		// about the page: the copy kept stays.
		p.copies[locale] = fresh
	}
	delete(p.fetching, locale)
	p.mu.Unlock()
	return fresh
}

// pageLocale is the locale the page is asked in: the one applyLocale gave
// the request (always one of i18n.locales), "" without i18n.
func pageLocale(m *middleware, req *http.Request) string {
	loc := m.s.i18n
	if loc == nil {
		return ""
	}
	if v := req.Header[loc.header]; len(v) == 1 && loc.values[v[0]] != nil {
		return v[0]
	}
	return ""
}

// fetchErrorPage asks the next handler for the page. It always returns a
// copy, ok false when the page could not be had. The fetch ends with the
// refused request (its context), and within errorPageTimeout.
func fetchErrorPage(m *middleware, req *http.Request, p *errorPage, locale string) *pageCopy {
	c := &pageCopy{at: time.Now()}
	ctx, cancel := context.WithTimeout(context.WithValue(req.Context(), errorPageFetchKey, errorPageFetchKey), errorPageTimeout)
	defer cancel()
	rec := &pageRecorder{header: http.Header{}}
	serveErrorPageFetch(m.next, rec, errorPageRequest(ctx, m, p, locale))
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 299 || rec.failed || len(rec.body) == 0 || ctx.Err() != nil {
		return c
	}
	c.ok, c.body = true, rec.body
	c.ctype = rec.header.Get("Content-Type")
	if c.ctype == "" {
		c.ctype = "text/html; charset=utf-8"
	}
	c.encoding = rec.header.Get("Content-Encoding")
	c.language = rec.header.Get("Content-Language")
	return c
}

// serveErrorPageFetch runs the fetch. A panic in the app (or a reverse
// proxy's http.ErrAbortHandler when the page overflows the recorder) is a
// failed fetch, never the client's request's panic.
func serveErrorPageFetch(next http.Handler, w *pageRecorder, r *http.Request) {
	defer recoverErrorPageFetch(w)
	next.ServeHTTP(w, r)
}

func recoverErrorPageFetch(w *pageRecorder) {
	if recover() != nil {
		w.failed = true
	}
}

// errorPageRequest is the GET of the page: the same request whoever was
// refused (only the locale differs, one of the configured ones), built
// from the configuration alone. The Host is the configured URL's (none
// for a path: Traefik's proxy then sends the address of the app's
// server); no client address (RemoteAddr), and X-Forwarded-For present
// but empty, so Traefik's proxy adds none; no cookie, credential, body or
// header of the client's.
func errorPageRequest(ctx context.Context, m *middleware, p *errorPage, locale string) *http.Request {
	h := http.Header{
		"Accept":          {"text/html"},
		"User-Agent":      {errorPageUserAgent},
		errorPageMarker:   {"1"},
		"X-Forwarded-For": nil,
	}
	if locale != "" {
		h[m.s.i18n.header] = m.s.i18n.values[locale]
		h["Accept-Language"] = []string{locale}
	}
	if p.host != "" {
		h["X-Forwarded-Host"] = []string{p.host}
		h["X-Forwarded-Proto"] = []string{p.scheme}
	}
	fr := &http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: p.path, RawQuery: p.query},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, Host: p.host,
		// Traefik forwards the request line when it is set (see
		// stripClientOverrides): it names the page.
		RequestURI: p.requestURI,
	}
	return fr.WithContext(ctx)
}

// pageRecorder captures the app's answer to the fetch of a page, up to
// errorPageMaxBytes (it is written to by compiled code: the established
// wrapper shape of writer.go).
type pageRecorder struct {
	header http.Header
	status int
	body   []byte
	failed bool // over the cap, or the app panicked
}

var errErrorPageTooLarge = errors.New("authlayer: error page over the size cap")

func (w *pageRecorder) Header() http.Header { return w.header }

func (w *pageRecorder) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
}

func (w *pageRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.failed || len(w.body)+len(b) > errorPageMaxBytes {
		w.failed = true
		return 0, errErrorPageTooLarge
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// pageText is the built-in page's wording for one status.
type pageText struct {
	title, text string
}

var builtinPageTexts = map[int]pageText{
	http.StatusBadRequest:            {"Bad request", "The address of this page is not valid."},
	http.StatusUnauthorized:          {"Sign-in required", "You need to sign in to see this page."},
	http.StatusForbidden:             {"Access denied", "You do not have permission to see this page."},
	http.StatusNotFound:              {"Not found", "There is nothing at this address."},
	http.StatusMethodNotAllowed:      {"Not allowed", "This address does not accept this kind of request."},
	http.StatusRequestEntityTooLarge: {"Request too large", "The data sent was more than this site accepts."},
	http.StatusUnsupportedMediaType:  {"Request not accepted", "The data was sent in a form this site does not accept."},
	http.StatusTooManyRequests:       {"Too many requests", "You have sent too many requests in a short time."},
	http.StatusServiceUnavailable:    {"Temporarily unavailable", "Sign-in is temporarily unavailable, so this page cannot be shown right now."},
}

// builtinPageDetails replace a status's wording for the answers of
// authlayer's own that say more. Other messages are never shown.
var builtinPageDetails = map[string]string{
	"Session ended":              "Your session has ended. Please sign in again.",
	"CSRF validation failed":     "This request could not be confirmed as coming from this site. Go back, reload the page and try again.",
	"Cross-site request refused": "This request came from another site and was refused.",
}

// builtinPageStyle is the page's only style (the CSP allows inline style,
// nothing else).
const builtinPageStyle = "body{font:16px/1.5 system-ui,-apple-system,sans-serif;color:#1f2328;background:#fff;margin:0}" +
	"main{max-width:34rem;margin:12vh auto;padding:0 1.25rem}" +
	".code{color:#59636e;font-size:.875rem;margin:0}h1{font-size:1.5rem;margin:.25rem 0 .75rem}" +
	"nav{margin-top:1.5rem}nav a{display:inline-block;margin:0 1rem .5rem 0;color:#0969da}"

// writeBuiltinPage writes authlayer's own page for status.
func writeBuiltinPage(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, status int, message string, retry int) {
	t, ok := builtinPageTexts[status]
	if !ok {
		t = pageText{http.StatusText(status), "The request could not be completed."}
		if t.title == "" {
			t.title = "Error"
		}
	}
	if detail, ok := builtinPageDetails[message]; ok {
		t.text = detail
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8">` +
		`<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">` +
		`<title>`)
	b.WriteString(html.EscapeString(t.title))
	b.WriteString(`</title><style>` + builtinPageStyle + `</style></head><body><main><p class="code">Error `)
	b.WriteString(strconv.Itoa(status))
	b.WriteString(`</p><h1>`)
	b.WriteString(html.EscapeString(t.title))
	b.WriteString(`</h1><p>`)
	b.WriteString(html.EscapeString(t.text))
	b.WriteString(`</p>`)
	if retry > 0 {
		b.WriteString(`<p>Please wait ` + strconv.Itoa(retry) + ` seconds before trying again.</p>`)
	}
	b.WriteString(`<nav>`)
	form := writePageLinks(&b, m, req, route, status)
	b.WriteString(`</nav></main></body></html>`)
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if form {
		pageSecurityHeaders(h, builtinFormPageCSP)
	} else {
		pageSecurityHeaders(h, builtinPageCSP)
	}
	rw.WriteHeader(status)
	_, _ = rw.Write([]byte(b.String()))
}

// writePageLinks writes the page's ways on: sign in (401; 403 through a
// sign-out form), try again (429, 503), home. It reports whether it wrote
// a form.
func writePageLinks(b *strings.Builder, m *middleware, req *http.Request, route *routeMatch, status int) bool {
	visit := req.Method == http.MethodGet || req.Method == http.MethodHead
	here := req.URL.RequestURI()
	form := false
	switch status {
	case http.StatusUnauthorized:
		login := localizedTarget(m, route, m.s.routes.loginURL)
		if visit && isLocalPath(here) {
			login = loginRedirect(m, route, here)
		}
		writePageLink(b, login, "Sign in")
	case http.StatusForbidden:
		// A signed-in user without the role: a link to the login page
		// would bounce (it is auth-only for them), so offer to sign out
		// first, when endpoints.logout is on. The logout then lands on
		// the login page, which carries this page as its return-to
		// value on a GET: signed in with the other account, the user is
		// back here.
		if logout := m.s.endpoints.logout; logout != "" {
			writeSwitchAccount(b, withQueryParam(logout, m.s.routes.returnTo, switchAccountTarget(m, route, visit, here)))
			form = true
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if visit && isLocalPath(here) {
			writePageLink(b, here, "Try again")
		}
	}
	writePageLink(b, localizedTarget(m, route, m.s.routes.homeURL), "Go to the home page")
	return form
}

// switchAccountTarget is where the 403 page's sign-out goes: the login
// page, with the denied page as its return-to value when that is a page
// visit. The logout endpoint goes only to a local path, so a login page
// on another site is reached without one (the logout then sends the user
// home).
func switchAccountTarget(m *middleware, route *routeMatch, visit bool, here string) string {
	login := localizedTarget(m, route, m.s.routes.loginURL)
	if visit && isLocalPath(here) && isLocalPath(login) {
		return loginRedirect(m, route, here)
	}
	return login
}

// writeSwitchAccount is a form posting to the logout endpoint (a logout
// is a POST, so CSRF checks apply to it like to any other).
func writeSwitchAccount(b *strings.Builder, action string) {
	b.WriteString(`<form method="post" action="`)
	b.WriteString(html.EscapeString(action))
	b.WriteString(`"><button type="submit">Sign in with another account</button></form>`)
}

func writePageLink(b *strings.Builder, href, label string) {
	b.WriteString(`<a href="`)
	b.WriteString(html.EscapeString(href))
	b.WriteString(`">`)
	b.WriteString(html.EscapeString(label))
	b.WriteString(`</a>`)
}

// answerRateLimited answers a request over its budget: API clients get
// the original's exact JSON (ratelimit.WriteLimited), browsers the 429 page with
// the same headers (Retry-After, X-RateLimit-*, no-store). route may be
// nil when the caller has not decided it.
func answerRateLimited(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch, d ratelimit.Decision) {
	if route == nil {
		route = answerRoute(m, req)
	}
	if isAPIRequest(req, route) {
		ratelimit.WriteLimited(rw, d)
		return
	}
	retry := d.RetryAfterSeconds
	if retry < 1 {
		retry = 1
	}
	h := rw.Header()
	ratelimit.Headers(h, d)
	h.Set("Retry-After", strconv.Itoa(retry))
	h.Set("Cache-Control", "no-store")
	writeErrorPage(m, rw, req, route, http.StatusTooManyRequests, "", retry)
}
