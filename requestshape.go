package authlayer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/authlayer/authlayer/internal/opts"
)

// Request shapes: how each backend call is sent when the backend is not
// next-api-layer (backend.preset, backend.requests.*). A call without a
// shape is sent exactly as before (backend.go); a call with one is built
// here from its compiled shape and the call's values, once per call: the
// method, where the token goes, a JSON or form body from a template,
// static headers and query parameters, and which statuses mean success.

// requestShape is one call's compiled shape.
type requestShape struct {
	method     string
	tokenIn    string // "bearer", "header", "query", "cookie" or "none"
	tokenName  string // the header, parameter or cookie name
	body       []shapeField
	form       bool // the body is form-encoded, not JSON
	headers    []shapeField
	query      []shapeField
	basicAuth  string         // "Basic …" from the client credentials; "" without clientAuth
	success    map[int]bool   // nil: any 2xx
	forwardRaw bool           // login without a body template: the browser's fields as sent
	fieldsSeen map[string]int // placeholders used, for New's checks
}

// shapeField is one templated field: name = value with placeholders.
type shapeField struct {
	name, value string
}

// shapeValues are a call's values for the placeholders.
type shapeValues struct {
	token, accessToken, refreshToken string
	username, password               string
}

// requestShapes are the compiled shapes; a nil one sends the call as
// before.
type requestShapes struct {
	validate, refresh, guest, login, logout *requestShape
}

// placeholders are the names a template may use.
var placeholders = []string{"token", "accessToken", "refreshToken", "username", "password", "clientId", "clientSecret"}

// compileShape checks one call's shape (after the preset filled it);
// nil when the shape is empty (the call keeps its built-in form).
func compileShape(option string, c RequestShapeConfig, b BackendConfig, login bool) (*requestShape, error) {
	if isEmptyShape(c) {
		return nil, nil
	}
	sh := &requestShape{method: strings.ToUpper(strings.TrimSpace(c.Method)), fieldsSeen: map[string]int{}}
	if sh.method == "" {
		sh.method = http.MethodPost
	}
	if !validMethod(sh.method) {
		return nil, opts.Error(option+".method", "%q is not an HTTP method", c.Method)
	}
	if err := compileTokenPlace(option+".token", c.Token, sh); err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(c.Encoding)) {
	case "", "json":
	case "form":
		sh.form = true
	default:
		return nil, opts.Error(option+".encoding", "must be json or form, not %q", c.Encoding)
	}
	var err error
	if sh.body, err = compileFields(option+".body", c.Body, sh); err != nil {
		return nil, err
	}
	if sh.headers, err = compileFields(option+".headers", c.Headers, sh); err != nil {
		return nil, err
	}
	for _, h := range sh.headers {
		if !validHeaderName(h.name) {
			return nil, opts.Error(option+".headers", "%q is not a header name", h.name)
		}
	}
	if sh.query, err = compileFields(option+".query", c.Query, sh); err != nil {
		return nil, err
	}
	sh.forwardRaw = login && len(sh.body) == 0
	if err := compileClientAuth(option+".clientAuth", c.ClientAuth, b, sh); err != nil {
		return nil, err
	}
	if len(c.SuccessStatusCodes) > 0 {
		sh.success = map[int]bool{}
		for _, v := range c.SuccessStatusCodes {
			code, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || code < 200 || code > 499 || (code >= 300 && code < 400) {
				return nil, opts.Error(option+".successStatusCodes", "%q is not a 2xx or 4xx status", v)
			}
			sh.success[code] = true
		}
	}
	return sh, nil
}

func isEmptyShape(c RequestShapeConfig) bool {
	return c.Method == "" && c.Token == "" && len(c.Body) == 0 && c.Encoding == "" && len(c.Headers) == 0 &&
		len(c.Query) == 0 && c.ClientAuth == "" && len(c.SuccessStatusCodes) == 0
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// compileTokenPlace reads where {token} goes besides the body.
func compileTokenPlace(option, v string, sh *requestShape) error {
	kind, name, _ := strings.Cut(strings.TrimSpace(v), ":")
	kind = strings.ToLower(kind)
	switch kind {
	case "", "bearer":
		sh.tokenIn = "bearer"
		if v == "" {
			sh.tokenIn = "none" // no token place given: only the body carries it
		}
	case "none":
		sh.tokenIn = "none"
	case "header", "query", "cookie":
		if name == "" {
			return opts.Error(option, "%q needs a name after the colon (%s:<name>)", v, kind)
		}
		if kind == "header" && !validHeaderName(name) {
			return opts.Error(option, "%q is not a header name", name)
		}
		sh.tokenIn, sh.tokenName = kind, name
	default:
		return opts.Error(option, "must be bearer, none, header:<name>, query:<name> or cookie:<name>, not %q", v)
	}
	return nil
}

// compileFields sorts a template map and checks its placeholders.
func compileFields(option string, m map[string]string, sh *requestShape) ([]shapeField, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]shapeField, 0, len(names))
	for _, k := range names {
		if strings.TrimSpace(k) == "" {
			return nil, opts.Error(option, "has an empty field name")
		}
		if err := checkPlaceholders(option+"."+k, m[k], sh); err != nil {
			return nil, err
		}
		out = append(out, shapeField{name: k, value: m[k]})
	}
	return out, nil
}

// checkPlaceholders refuses an unknown {name} in a template value.
func checkPlaceholders(option, v string, sh *requestShape) error {
	// A plain loop: Yaegi v0.16.1 loops forever on a for statement with
	// an init and no condition whose variable the body reassigns.
	rest := v
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return opts.Error(option, "has an unclosed { in %q", v)
		}
		name := rest[i+1 : i+j]
		if !isPlaceholder(name) {
			return opts.Error(option, "{%s} is not a placeholder (use %s)", name, strings.Join(placeholders, ", "))
		}
		sh.fieldsSeen[name]++
		rest = rest[i+j+1:]
	}
}

func isPlaceholder(name string) bool {
	for _, p := range placeholders {
		if p == name {
			return true
		}
	}
	return false
}

// compileClientAuth builds the Basic credentials of clientAuth "basic".
func compileClientAuth(option, v string, b BackendConfig, sh *requestShape) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return nil
	case "basic":
		if b.ClientID == "" {
			return opts.Error(option, "basic needs backend.clientId")
		}
		// RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
		pair := url.QueryEscape(b.ClientID) + ":" + url.QueryEscape(b.ClientSecret)
		sh.basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
		return nil
	}
	return opts.Error(option, "must be basic or empty, not %q", v)
}

// shapeReplacer fills a call's placeholders; built once per call, not per
// templated field.
func shapeReplacer(vals *shapeValues, b *backendClient) *strings.Replacer {
	return strings.NewReplacer(
		"{token}", vals.token, "{accessToken}", vals.accessToken, "{refreshToken}", vals.refreshToken,
		"{username}", vals.username, "{password}", vals.password,
		"{clientId}", b.clientID, "{clientSecret}", b.clientSecret,
	)
}

// fill replaces the placeholders of a template value.
func fill(v string, r *strings.Replacer) string {
	if strings.IndexByte(v, '{') < 0 {
		return v
	}
	return r.Replace(v)
}

// buildShaped builds the call's request: URL with query, headers, body.
// raw is the login's browser body, forwarded as is when the shape has no
// body template.
func buildShaped(ctx context.Context, b *backendClient, sh *requestShape, target string, vals *shapeValues, raw []byte) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	r := shapeReplacer(vals, b)
	q := u.Query()
	for _, f := range sh.query {
		q.Set(f.name, fill(f.value, r))
	}
	if sh.tokenIn == "query" {
		q.Set(sh.tokenName, vals.token)
	}
	u.RawQuery = q.Encode()
	body, contentType := shapedBody(sh, r, raw)
	req, err := http.NewRequestWithContext(ctx, sh.method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for _, f := range sh.headers {
		req.Header.Set(f.name, fill(f.value, r))
	}
	switch sh.tokenIn {
	case "bearer":
		if vals.token != "" {
			req.Header.Set("Authorization", "Bearer "+vals.token)
		}
	case "header":
		req.Header.Set(sh.tokenName, vals.token)
	case "cookie":
		req.Header.Set("Cookie", sh.tokenName+"="+vals.token)
	}
	if sh.basicAuth != "" {
		req.Header.Set("Authorization", sh.basicAuth)
	}
	return req, nil
}

// shapedBody is the body and its Content-Type ("" without a body).
func shapedBody(sh *requestShape, r *strings.Replacer, raw []byte) ([]byte, string) {
	if sh.forwardRaw {
		if raw == nil {
			return nil, ""
		}
		return raw, "application/json"
	}
	if len(sh.body) == 0 {
		return nil, ""
	}
	if sh.form {
		form := url.Values{}
		for _, f := range sh.body {
			form.Set(f.name, fill(f.value, r))
		}
		return []byte(form.Encode()), "application/x-www-form-urlencoded"
	}
	doc := make(map[string]string, len(sh.body))
	for _, f := range sh.body {
		doc[f.name] = fill(f.value, r)
	}
	out, _ := json.Marshal(doc)
	return out, "application/json"
}

// shapedStatus maps a status the shape calls success to 200, so the
// answer's classification (backend.go) reads it as one.
func shapedStatus(sh *requestShape, status int) int {
	if sh.success != nil && sh.success[status] {
		return http.StatusOK
	}
	return status
}
