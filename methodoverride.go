package authlayer

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Method override for the upstream (methodOverride.*): PUT, PATCH and
// DELETE reach the app as POST carrying the real method, for apps behind
// infrastructure that blocks those verbs.
//
// It runs last, just before the request is handed to the app: the rate
// limits, CSRF, the token flow and the rules all saw the real method (a
// DELETE is judged as a DELETE, never as the POST it becomes).
//
// The app is told the method by authlayer alone. With a mode on, every
// request that reaches the app (excluded paths included) loses the
// client's own override first, whatever its method and value:
//
//   - the headers X-HTTP-Method-Override, X-HTTP-Method and
//     X-Method-Override in every spelling csrf.go recognises (any case,
//     "_" "." and the other characters servers fold into "-");
//   - a "_method" query parameter in every spelling csrf.go recognises
//     ("_method[]", "%5Fmethod", PHP's ".method", "&" or ";" separated),
//     in the URL and in the request line Traefik forwards (RequestURI);
//   - in "body" mode, a top-level "_method" key (any case) of a JSON
//     object body and every "_method" field of a form body, for the
//     requests it rewrites and for POST (the frameworks that read a body
//     override read it from POST). Multipart and other bodies are not
//     read: a _method field in a multipart POST reaches the app, as any
//     POST it went through CSRF as an unsafe request.
//
// So a GET carrying an override reaches the app as a plain GET (CSRF
// already judged it as the unsafe method it asked to be), and a POST is a
// POST unless authlayer itself made it from a PUT, PATCH or DELETE.
//
// "header": PUT/PATCH/DELETE become POST with X-HTTP-Method-Override.
// "body": PUT/PATCH/DELETE become POST with "_method" in the body: a JSON
// object gets a top-level "_method" key (the client's bytes kept as they
// were when it had none), a form body gets "_method=<METHOD>" appended, an
// empty body becomes the form "_method=<METHOD>"; any other body (not a
// JSON object, multipart, unknown type) keeps its bytes and gets the
// header instead. A body over methodOverride.maxBodyBytes, or a form with
// more than maxOverrideFormFields fields, is answered 413 before anything
// reaches the app. Content-Length follows the new body.

// methodOverrideSettings are the compiled methodOverride options.
type methodOverrideSettings struct {
	enabled      bool  // mode is not "off"
	body         bool  // mode "body" (else "header")
	maxBodyBytes int64 // body mode's cap on a body it reads
}

// maxOverrideFormFields bounds the fields of a form body examined for
// _method: each costs an interpreted loop turn under Yaegi.
const maxOverrideFormFields = 10000

// overrideHeader is the header authlayer tells the app the method in.
const overrideHeader = "X-Http-Method-Override"

// overriddenMethods are the methods sent upstream as POST.
var overriddenMethods = map[string]bool{http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true}

func compileMethodOverride(c *Config, s *settings) error {
	mo := c.MethodOverride
	switch strings.ToLower(strings.TrimSpace(mo.Mode)) {
	case "", "off":
	case "header":
		s.methodOverride.enabled = true
	case "body":
		if mo.MaxBodyBytes < 1 {
			return optionError("methodOverride.maxBodyBytes", "must be at least 1, got %d", mo.MaxBodyBytes)
		}
		s.methodOverride = methodOverrideSettings{enabled: true, body: true, maxBodyBytes: int64(mo.MaxBodyBytes)}
	default:
		return optionError("methodOverride.mode", "%q is not one of off, header, body", mo.Mode)
	}
	// routes.blockBrowserApi is the other request-shaping hook of the
	// flow; its check needs the compiled routes, as this step does.
	return compileBrowserAPI(c, s)
}

// applyMethodOverride prepares req for the app when methodOverride is on:
// the client's overrides removed, an unsafe verb rewritten. It reports
// whether it answered the request itself (413, with the session's cookies
// from res): the caller must then not forward it.
func applyMethodOverride(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) bool {
	stripClientOverrides(req)
	switch {
	case overriddenMethods[req.Method]:
		if m.s.methodOverride.body {
			return overrideInBody(m, rw, req, res)
		}
		setOverrideHeader(req)
	case req.Method == http.MethodPost && m.s.methodOverride.body:
		return cleanPostBody(m, rw, req, res)
	}
	return false
}

// stripClientOverrides removes the client's override headers and query
// parameters (see the file comment).
func stripClientOverrides(req *http.Request) {
	for k := range req.Header {
		if len(k) > 12 && csrfOverrideHeaderLengths[len(k)] && csrfOverrideHeaders[normalizeHeaderName(k)] {
			delete(req.Header, k)
		}
	}
	q := req.URL.RawQuery
	if q == "" || !mayHoldOverride(q) {
		return
	}
	kept, removed, _ := dropOverrideFields(q, 0)
	if !removed {
		return
	}
	req.URL.RawQuery = kept
	req.URL.ForceQuery = false
	// Traefik forwards the request line (RequestURI) when it is set, not
	// the URL: both must lose the parameter. The path is kept as sent.
	if uri := req.RequestURI; uri != "" {
		if i := strings.IndexByte(uri, '?'); i >= 0 {
			uri = uri[:i]
		}
		if kept != "" {
			uri += "?" + kept
		}
		req.RequestURI = uri
	}
}

// mayHoldOverride is the cheap test before splitting: no spelling of
// _method lacks both the letters "method" and an escape.
func mayHoldOverride(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.Contains(strings.ToLower(s), "method")
}

// dropOverrideFields removes every field of a query or form string that
// names _method (csrfOverrideParam), splitting on "&" and ";" as the
// lenient parsers do (and as Traefik turns ";" into "&" upstream). It
// reports whether it removed one; ok is false when limit > 0 and the
// string has more fields than limit (nothing is removed then).
func dropOverrideFields(s string, limit int) (kept string, removed, ok bool) {
	if limit > 0 && strings.Count(s, "&")+strings.Count(s, ";") >= limit {
		return s, false, false
	}
	parts := strings.Split(s, "&")
	out := parts[:0:0]
	for _, part := range parts {
		if strings.IndexByte(part, ';') >= 0 {
			sub, dropped := dropOverrideSubfields(part)
			removed = removed || dropped
			if sub != "" {
				out = append(out, sub)
			}
			continue
		}
		key, _, _ := strings.Cut(part, "=")
		if csrfOverrideParam(key) {
			removed = true
			continue
		}
		out = append(out, part)
	}
	if !removed {
		return s, false, true
	}
	return strings.Join(out, "&"), true, true
}

// dropOverrideSubfields is dropOverrideFields for one "&" part holding
// ";" separators.
func dropOverrideSubfields(part string) (string, bool) {
	subs := strings.Split(part, ";")
	out := subs[:0:0]
	removed := false
	for _, sub := range subs {
		key, _, _ := strings.Cut(sub, "=")
		if csrfOverrideParam(key) {
			removed = true
			continue
		}
		out = append(out, sub)
	}
	return strings.Join(out, ";"), removed
}

// setOverrideHeader sends req upstream as POST naming its method in the
// header.
func setOverrideHeader(req *http.Request) {
	req.Header[overrideHeader] = []string{req.Method}
	req.Method = http.MethodPost
}

// Body kinds the body mode rewrites.
const (
	bodyOther = iota
	bodyJSON
	bodyForm
	bodyEmpty
)

// requestBodyKind classifies a request body by its Content-Type, for
// method override and the login endpoint (an empty body without one is a
// form with no fields).
func requestBodyKind(req *http.Request) int {
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		if req.ContentLength == 0 && len(req.TransferEncoding) == 0 {
			return bodyEmpty
		}
		return bodyOther
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	switch {
	case ct == "application/x-www-form-urlencoded":
		return bodyForm
	case ct == "application/json" || (strings.HasPrefix(ct, "application/") && strings.HasSuffix(ct, "+json")):
		return bodyJSON
	}
	return bodyOther
}

// overrideInBody is the body mode for PUT, PATCH and DELETE.
func overrideInBody(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) bool {
	kind := requestBodyKind(req)
	method := req.Method
	switch kind {
	case bodyOther:
		setOverrideHeader(req)
		return false
	case bodyEmpty:
		req.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		setBody(req, []byte("_method="+method))
		req.Method = http.MethodPost
		return false
	}
	body, status := readOverrideBody(m, req)
	if status != 0 {
		return refuseOverrideBody(m, rw, req, res, status)
	}
	var rewritten []byte
	if kind == bodyJSON {
		rewritten = jsonWithMethod(body, method)
	} else {
		kept, _, ok := dropOverrideFields(string(body), maxOverrideFormFields)
		if !ok {
			return refuseOverrideBody(m, rw, req, res, http.StatusRequestEntityTooLarge)
		}
		rewritten = formWithMethod(kept, method)
	}
	if rewritten == nil {
		// Not a JSON object: its bytes go on unchanged, the method in
		// the header.
		setBody(req, body)
		setOverrideHeader(req)
		return false
	}
	setBody(req, rewritten)
	req.Method = http.MethodPost
	return false
}

// cleanPostBody removes a client's _method from a JSON or form POST body
// in body mode; the body's bytes are kept as they were when it has none.
func cleanPostBody(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) bool {
	kind := requestBodyKind(req)
	if kind != bodyJSON && kind != bodyForm {
		return false
	}
	body, status := readOverrideBody(m, req)
	if status != 0 {
		return refuseOverrideBody(m, rw, req, res, status)
	}
	if kind == bodyJSON {
		if cleaned := jsonWithoutMethod(body); cleaned != nil {
			body = cleaned
		}
		setBody(req, body)
		return false
	}
	if !mayHoldOverride(string(body)) {
		setBody(req, body)
		return false
	}
	kept, removed, ok := dropOverrideFields(string(body), maxOverrideFormFields)
	if !ok {
		return refuseOverrideBody(m, rw, req, res, http.StatusRequestEntityTooLarge)
	}
	if removed {
		body = []byte(kept)
	}
	setBody(req, body)
	return false
}

// readOverrideBody reads the whole body within methodOverride.maxBodyBytes.
// status is 413 beyond it (nothing more is read), 400 when the body cannot
// be read.
func readOverrideBody(m *middleware, req *http.Request) ([]byte, int) {
	limit := m.s.methodOverride.maxBodyBytes
	if req.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if req.Body == nil || req.Body == http.NoBody {
		return []byte{}, 0
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, http.StatusBadRequest
	}
	if int64(len(body)) > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	return body, 0
}

// refuseOverrideBody answers a body the override cannot take, with the
// session's cookies (a refresh may have happened on this request).
func refuseOverrideBody(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult, status int) bool {
	message := "Request body too large"
	reason := "body-too-large"
	if status == http.StatusBadRequest {
		message, reason = "Invalid request body", "body-unreadable"
	}
	record(m, req, eventAccessDenied, res.id, res.token, false, reason, status)
	deny(m, rw, req, answerRoute(m, req), res, status, message)
	return true
}

// setBody replaces the request's body, its length with it.
func setBody(req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header["Content-Length"] = []string{strconv.Itoa(len(body))}
	req.TransferEncoding = nil
	delete(req.Header, "Transfer-Encoding")
	req.GetBody = nil
}

// formWithMethod appends authlayer's _method to a form body already
// stripped of the client's.
func formWithMethod(kept, method string) []byte {
	if kept == "" {
		return []byte("_method=" + method)
	}
	return []byte(kept + "&_method=" + method)
}

// jsonWithMethod gives a JSON object body a top-level "_method" key with
// method, or returns nil when the body is not a JSON object. A body with
// no key of its own named _method (in any case) keeps its bytes, the key
// inserted first; one with such keys is re-encoded without them.
func jsonWithMethod(body []byte, method string) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(trimmed, &fields) != nil {
		return nil
	}
	ours := `"_method":"` + method + `"`
	if !jsonHasMethod(fields, trimmed) {
		rest := bytes.TrimSpace(trimmed[1:])
		if len(rest) == 1 { // "}"
			return []byte("{" + ours + "}")
		}
		return append([]byte("{"+ours+","), trimmed[1:]...)
	}
	dropJSONMethod(fields)
	fields["_method"] = json.RawMessage(`"` + method + `"`)
	out, err := json.Marshal(fields)
	if err != nil {
		return nil
	}
	return out
}

// jsonWithoutMethod returns a JSON object body without its top-level
// _method keys, or nil when it has none (or is not a JSON object).
func jsonWithoutMethod(body []byte) []byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if !jsonMayHoldMethod(trimmed) || json.Unmarshal(trimmed, &fields) != nil || !jsonHasMethod(fields, trimmed) {
		return nil
	}
	dropJSONMethod(fields)
	out, err := json.Marshal(fields)
	if err != nil {
		return nil
	}
	return out
}

// jsonMayHoldMethod is the cheap test before looking at every key: a
// key naming _method is spelled with the letters "method" or an escape.
func jsonMayHoldMethod(body []byte) bool {
	return bytes.IndexByte(body, '\\') >= 0 || bytes.Contains(bytes.ToLower(body), []byte("method"))
}

// jsonHasMethod reports whether a decoded JSON object (body) has a
// top-level key _method in any case.
func jsonHasMethod(fields map[string]json.RawMessage, body []byte) bool {
	if _, ok := fields["_method"]; ok {
		return true
	}
	if !jsonMayHoldMethod(body) {
		return false
	}
	for k := range fields {
		if len(k) == len("_method") && strings.EqualFold(k, "_method") {
			return true
		}
	}
	return false
}

func dropJSONMethod(fields map[string]json.RawMessage) {
	for k := range fields {
		if len(k) == len("_method") && strings.EqualFold(k, "_method") {
			delete(fields, k)
		}
	}
}
