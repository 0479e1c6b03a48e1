package authlayer

import (
	"bytes"
	"encoding/json"
	"github.com/authlayer/authlayer/internal/opts"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/authlayer/authlayer/internal/csrf"
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
//     X-Method-Override in every spelling CSRF recognises
//     (csrf.OverrideHeaders: any case, "_" "." and the other characters
//     servers fold into "-");
//   - a "_method" query parameter in every spelling a framework reads
//     (csrf.OverrideField: "_method[]", "%5Fmethod", "_method%00", PHP's
//     ".method", "&" or ";" separated), in the URL and in the request
//     line Traefik forwards (RequestURI);
//   - in "body" mode, from every body the app receives as a POST (a POST,
//     or a PUT, PATCH or DELETE authlayer rewrites), every field a
//     framework would read _method from, in every type and spelling it
//     would read it in (see overrideReading): a JSON object's top-level
//     "_method" keys (any JSON type, a BOM allowed), a form's _method
//     fields (csrf.OverrideField: "_method%00", "%5Fmethod", ".method",
//     "_method[]", ...), a multipart/form-data body's _method parts (the
//     body rebuilt, see rebuildMultipart). A body authlayer cannot be sure
//     about is refused before anything reaches the app: 415 for a
//     Content-Encoding (gzip, ...) on such a body, a charset that spells
//     _method otherwise (UTF-16, UTF-7), multipart/mixed and /related, or
//     a Content-Type that names JSON, a form or multipart in any other
//     way; 400 for one that does not parse as its type (invalid JSON,
//     JSON5, a malformed multipart body, two Content-Types). Other types
//     (text, images, XML, octet streams) are read by no framework and
//     pass as they are.
//
// So a GET carrying an override reaches the app as a plain GET (CSRF
// already judged it as the unsafe method it asked to be), and a POST is a
// POST unless authlayer itself made it from a PUT, PATCH or DELETE.
//
// "header": PUT/PATCH/DELETE become POST with X-HTTP-Method-Override; no
// body is read.
// "body": PUT/PATCH/DELETE become POST with "_method" in the body: a JSON
// object gets a top-level "_method" key (the client's bytes kept as they
// were when it had none), a form body gets "_method=<METHOD>" appended, a
// multipart body a first part _method, an empty body becomes the form
// "_method=<METHOD>"; a JSON value that is not an object, a body without
// a Content-Type (cleaned as a form) and a body of another type keep
// their bytes and get the header instead. A body over
// methodOverride.maxBodyBytes, or a form or multipart body with more than
// maxOverrideFormFields fields, is answered 413 before anything reaches
// the app. Content-Length follows the new body.

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
			return opts.Error("methodOverride.maxBodyBytes", "must be at least 1, got %d", mo.MaxBodyBytes)
		}
		s.methodOverride = methodOverrideSettings{enabled: true, body: true, maxBodyBytes: int64(mo.MaxBodyBytes)}
	default:
		return opts.Error("methodOverride.mode", "%q is not one of off, header, body", mo.Mode)
	}
	return nil
}

// applyMethodOverride prepares req for the app when methodOverride is on:
// the client's overrides removed, an unsafe verb rewritten. It reports
// whether it answered the request itself (413, 415 or 400, with the
// session's cookies from res): the caller must then not forward it.
func applyMethodOverride(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) bool {
	stripClientOverrides(req)
	switch {
	case overriddenMethods[req.Method]:
		if m.s.methodOverride.body {
			return overrideInBody(m, rw, req, res)
		}
		setOverrideHeader(req)
	case req.Method == http.MethodPost && m.s.methodOverride.body:
		return overrideInBody(m, rw, req, res)
	}
	return false
}

// stripClientOverrides removes the client's override headers and query
// parameters (see the file comment).
func stripClientOverrides(req *http.Request) {
	for k := range req.Header {
		if len(k) > 12 && csrf.OverrideHeaderLengths[len(k)] && csrf.OverrideHeaders[normalizeHeaderName(k)] {
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
// names _method (csrf.OverrideField), splitting on "&" and ";" as the
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
		if csrf.OverrideField(key) {
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
		if csrf.OverrideField(key) {
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

// Body kinds, for the login endpoint (requestBodyKind).
const (
	bodyOther = iota
	bodyJSON
	bodyForm
	bodyEmpty
)

// requestBodyKind classifies a request body by its Content-Type for the
// login endpoint (an empty body without one is a form with no fields).
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

// How body mode reads a body the app receives as a POST
// (overrideReading).
const (
	readOpaque    = iota // a type no framework reads fields from: kept as it is
	readEmpty            // no body
	readJSON             // any JSON type: a single JSON value, UTF-8
	readForm             // application/x-www-form-urlencoded
	readUntyped          // a body without a Content-Type: Rack reads it as a form
	readMultipart        // multipart/form-data
)

// Statuses of a body body mode refuses.
const (
	bodyTooLarge    = http.StatusRequestEntityTooLarge
	bodyUnsupported = http.StatusUnsupportedMediaType
	bodyInvalid     = http.StatusBadRequest
)

// formCharsets are the charsets of a form body whose bytes spell "_method"
// as ASCII does. Django decodes a form in its charset (UTF-16, UTF-7 or
// EBCDIC spell it otherwise), body-parser accepts ISO-8859-1.
var formCharsets = map[string]bool{
	"utf-8": true, "utf8": true, "us-ascii": true, "ascii": true,
	"iso-8859-1": true, "latin1": true, "iso-8859-15": true, "windows-1252": true,
}

// overrideReading decides how body mode reads req's body, or refuses it
// (415, 400) when authlayer could not be sure that what the app reads
// from it holds no _method of the client's. The frameworks that route by
// _method read it from bodies of these types, however the Content-Type is
// spelled (any case, spaces, parameters; Rack and PHP cut the type at ","
// too):
//
//   - application/x-www-form-urlencoded (all; Django in the charset the
//     type names), multipart/form-data (all), multipart/mixed and
//     multipart/related (Rack);
//   - a body with no Content-Type, or an empty one (Rack reads it as a
//     form);
//   - JSON: body-parser's application/json (in any utf-* charset, gzip,
//     deflate or br compressed, a BOM dropped), and for Laravel any type
//     whose header holds "/json" or "+json" anywhere, parameters included.
//
// So: a JSON type is read strictly (one JSON value in UTF-8, a BOM
// allowed); a form in an ASCII-compatible charset; multipart/form-data
// part by part; a Content-Type naming json, urlencoded, form-data,
// x-www-form or multipart in any other way, one that does not parse, two
// of them, or a Content-Encoding on a body that must be read, is refused. Any other
// type is one no framework reads fields from (an operator who configures
// a parser for every type, such as urlencoded({type: "*/*"}), is on their
// own) and is kept as it is.
func overrideReading(req *http.Request) (int, map[string]string, int) {
	if req.ContentLength == 0 && len(req.TransferEncoding) == 0 {
		return readEmpty, nil, 0
	}
	if bodyHeaderAliases(req.Header) {
		return 0, nil, bodyInvalid
	}
	cts := req.Header["Content-Type"]
	if len(cts) > 1 {
		return 0, nil, bodyInvalid
	}
	if len(cts) == 0 || strings.TrimSpace(cts[0]) == "" {
		return readableBody(req, readUntyped, nil)
	}
	raw := strings.ToLower(cts[0])
	if !strings.Contains(raw, "json") && !formWords(raw) {
		return readOpaque, nil, 0
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil {
		return 0, nil, bodyUnsupported
	}
	switch {
	case strings.Contains(mt, "json"):
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return 0, nil, bodyUnsupported
		}
		return readableBody(req, readJSON, params)
	case strings.Contains(raw, "/json") || strings.Contains(raw, "+json"):
		// Another type whose parameters name JSON: Laravel reads it as
		// JSON, the others as the type says.
		return 0, nil, bodyUnsupported
	case mt == "application/x-www-form-urlencoded":
		if cs, ok := params["charset"]; ok && !formCharsets[strings.ToLower(cs)] {
			return 0, nil, bodyUnsupported
		}
		return readableBody(req, readForm, params)
	case mt == "multipart/form-data":
		if params["boundary"] == "" {
			return 0, nil, bodyInvalid
		}
		return readableBody(req, readMultipart, params)
	case formWords(mt):
		return 0, nil, bodyUnsupported
	}
	return readOpaque, nil, 0
}

// formWords reports whether a lower-cased Content-Type speaks of a form
// or of multipart ("format" in a vendor type does not).
func formWords(ct string) bool {
	return strings.Contains(ct, "urlencoded") || strings.Contains(ct, "form-data") ||
		strings.Contains(ct, "x-www-form") || strings.Contains(ct, "multipart")
}

// readableBody is reading, unless the body is content-encoded (gzip and
// the like: body-parser inflates it, authlayer does not read it).
func readableBody(req *http.Request, reading int, params map[string]string) (int, map[string]string, int) {
	for _, v := range req.Header["Content-Encoding"] {
		for _, coding := range strings.Split(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return 0, nil, bodyUnsupported
			}
		}
	}
	return reading, params, 0
}

// bodyHeaderAliases reports a Content-Type or Content-Encoding spelled
// otherwise ("Content_Type"), which some servers fold into the real one.
func bodyHeaderAliases(h http.Header) bool {
	for k := range h {
		if (len(k) == len("Content-Type") && k != "Content-Type" && normalizeHeaderName(k) == "content-type") ||
			(len(k) == len("Content-Encoding") && k != "Content-Encoding" && normalizeHeaderName(k) == "content-encoding") {
			return true
		}
	}
	return false
}

// overrideInBody is body mode for a request the app receives as a POST:
// a POST (the client's _method removed from its body) and a PUT, PATCH or
// DELETE that becomes one (its method written into the body, else in the
// header). It reports whether it answered the request itself.
func overrideInBody(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult) bool {
	reading, params, status := overrideReading(req)
	switch {
	case status != 0:
	case reading != readOpaque && reading != readEmpty:
		status = cleanOverrideBody(m, req, reading, params)
	case req.Method == http.MethodPost:
	case reading == readEmpty:
		setEmptyOverride(req)
	default:
		setOverrideHeader(req) // a body no framework reads: kept as it is
	}
	if status != 0 {
		return refuseOverrideBody(m, rw, req, res, status)
	}
	return false
}

// cleanOverrideBody reads a body of a type frameworks read _method from,
// and gives the app one holding no _method but authlayer's. It returns
// the status refusing it, or 0.
func cleanOverrideBody(m *middleware, req *http.Request, reading int, params map[string]string) int {
	body, status := readOverrideBody(m, req)
	if status != 0 {
		return status
	}
	method := req.Method
	if method == http.MethodPost {
		method = ""
	}
	if len(body) == 0 {
		setBody(req, body)
		if method != "" {
			setEmptyOverride(req)
		}
		return 0
	}
	switch reading {
	case readJSON:
		return overrideJSON(req, body, method)
	case readMultipart:
		return overrideMultipart(req, body, params["boundary"], method)
	}
	return overrideForm(req, body, method, reading == readForm)
}

// setEmptyOverride makes an empty body the form "_method=<METHOD>".
func setEmptyOverride(req *http.Request) {
	req.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
	setBody(req, []byte("_method="+req.Method))
	req.Method = http.MethodPost
}

// utf8BOM is the byte-order mark some clients put before JSON.
var utf8BOM = []byte("\xef\xbb\xbf")

// overrideJSON: a JSON body must be one valid JSON value (after an
// optional BOM); an object loses its top-level _method keys and, for a
// rewritten method, gets authlayer's; any other value keeps its bytes
// (it has no keys) and the method goes in the header.
func overrideJSON(req *http.Request, body []byte, method string) int {
	doc := bytes.TrimPrefix(body, utf8BOM)
	if !json.Valid(doc) {
		return bodyInvalid
	}
	if method == "" {
		if cleaned := jsonWithoutMethod(doc); cleaned != nil {
			body = cleaned
		}
		setBody(req, body)
		return 0
	}
	if rewritten := jsonWithMethod(doc, method); rewritten != nil {
		setBody(req, rewritten)
		req.Method = http.MethodPost
		return 0
	}
	setBody(req, body)
	setOverrideHeader(req)
	return 0
}

// overrideForm: a form body (or an untyped one, which Rack reads as a
// form) loses every field naming _method; a rewritten method is appended
// to a form, and goes in the header for an untyped body (whose type is
// left as the client sent it).
func overrideForm(req *http.Request, body []byte, method string, form bool) int {
	kept := string(body)
	if method != "" || mayHoldOverride(kept) {
		var removed, ok bool
		kept, removed, ok = dropOverrideFields(kept, maxOverrideFormFields)
		if !ok {
			return bodyTooLarge
		}
		if removed {
			body = []byte(kept)
		}
	}
	switch {
	case method == "":
		setBody(req, body)
	case form:
		setBody(req, formWithMethod(kept, method))
		req.Method = http.MethodPost
	default:
		setBody(req, body)
		setOverrideHeader(req)
	}
	return 0
}

// overrideMultipart: a multipart/form-data body is rebuilt part by part
// (rebuildMultipart) without the parts naming _method, authlayer's first
// for a rewritten method.
func overrideMultipart(req *http.Request, body []byte, boundary, method string) int {
	out, ctype, status := rebuildMultipart(body, boundary, method)
	if status != 0 {
		return status
	}
	req.Header["Content-Type"] = []string{ctype}
	setBody(req, out)
	req.Method = http.MethodPost
	return 0
}

// rebuildMultipart parses a multipart/form-data body with Go's reader and
// writes it again, with a boundary of its own, so the app parses exactly
// what authlayer did (parsers disagree on loose line ends, preambles and
// odd headers; a rebuilt body has none). Each part keeps its name (and
// filename), Content-Type, Content-Transfer-Encoding and bytes; its other
// headers are dropped. A part whose name reads as _method
// (csrf.OverrideField) is left out. A body that does not parse, a part
// without exactly one form-data Content-Disposition with a name, or a
// name or filename that another parser could read a second name from
// (quotes, backslashes, control characters, or ";" with "name") is
// refused (400); more than maxOverrideFormFields parts, 413.
func rebuildMultipart(body []byte, boundary, method string) ([]byte, string, int) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if method != "" {
		if err := mw.WriteField("_method", method); err != nil {
			return nil, "", bodyInvalid
		}
	}
	for n := 0; n <= maxOverrideFormFields; n++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			if err := mw.Close(); err != nil {
				return nil, "", bodyInvalid
			}
			return out.Bytes(), mw.FormDataContentType(), 0
		}
		if err != nil {
			return nil, "", bodyInvalid
		}
		header, name, ok := multipartPartHeader(p.Header)
		if !ok {
			return nil, "", bodyInvalid
		}
		if csrf.OverrideField(name) {
			continue
		}
		w, err := mw.CreatePart(header)
		if err != nil {
			return nil, "", bodyInvalid
		}
		if _, err := io.Copy(w, p); err != nil {
			return nil, "", bodyInvalid
		}
	}
	return nil, "", bodyTooLarge
}

// multipartPartHeader is the header a rebuilt part gets, and the part's
// name; ok is false for a part that cannot be read without doubt.
func multipartPartHeader(h textproto.MIMEHeader) (textproto.MIMEHeader, string, bool) {
	cd := h["Content-Disposition"]
	if len(cd) != 1 {
		return nil, "", false
	}
	disposition, params, err := mime.ParseMediaType(cd[0])
	if err != nil || disposition != "form-data" {
		return nil, "", false
	}
	name := params["name"]
	if name == "" || !plainPartParam(name) {
		return nil, "", false
	}
	value := `form-data; name="` + name + `"`
	if filename, ok := params["filename"]; ok {
		if !plainPartParam(filename) {
			return nil, "", false
		}
		value += `; filename="` + filename + `"`
	}
	out := textproto.MIMEHeader{"Content-Disposition": {value}}
	if !keepPartHeader(h, out, "Content-Type") || !keepPartHeader(h, out, "Content-Transfer-Encoding") {
		return nil, "", false
	}
	return out, name, true
}

// keepPartHeader copies header k of a part, if it has one; false when it
// has several. (A plain function: Yaegi v0.16.1 mis-runs a switch with an
// init statement here.)
func keepPartHeader(from, to textproto.MIMEHeader, k string) bool {
	v := from[k]
	if len(v) > 1 {
		return false
	}
	if len(v) == 1 {
		to[k] = v
	}
	return true
}

// plainPartParam reports whether a part's name or filename can be written
// in quotes and read back the same by every parser: no quote, backslash
// or control character, and not ";" together with "name" (Rack finds the
// name with a regular expression that would match inside it).
func plainPartParam(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return !strings.Contains(v, ";") || !strings.Contains(strings.ToLower(v), "name")
}

// readOverrideBody reads the whole body within methodOverride.maxBodyBytes.
// status is 413 beyond it (nothing more is read), 400 when the body cannot
// be read.
func readOverrideBody(m *middleware, req *http.Request) ([]byte, int) {
	limit := m.s.methodOverride.maxBodyBytes
	if req.ContentLength > limit {
		return nil, bodyTooLarge
	}
	if req.Body == nil || req.Body == http.NoBody {
		return []byte{}, 0
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, bodyInvalid
	}
	if int64(len(body)) > limit {
		return nil, bodyTooLarge
	}
	return body, 0
}

// refuseOverrideBody answers a body body mode will not pass on, with the
// session's cookies (a refresh may have happened on this request).
func refuseOverrideBody(m *middleware, rw http.ResponseWriter, req *http.Request, res *authResult, status int) bool {
	message, reason := "Request body too large", "body-too-large"
	switch status {
	case bodyUnsupported:
		message, reason = "Unsupported request body", "body-unsupported"
	case bodyInvalid:
		message, reason = "Invalid request body", "body-invalid"
	}
	record(m, req, eventAccessDenied, auditEntry{who: res.id, token: res.token, reason: reason, status: status})
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
// top-level key naming _method (jsonMethodKey).
func jsonHasMethod(fields map[string]json.RawMessage, body []byte) bool {
	if _, ok := fields["_method"]; ok {
		return true
	}
	if !jsonMayHoldMethod(body) {
		return false
	}
	for k := range fields {
		if jsonMethodKey(k) {
			return true
		}
	}
	return false
}

func dropJSONMethod(fields map[string]json.RawMessage) {
	for k := range fields {
		if jsonMethodKey(k) {
			delete(fields, k)
		}
	}
}

// jsonMethodKey reports whether a decoded JSON key names _method: in any
// case, and cut at a NUL (a PHP extension handing keys to C code).
func jsonMethodKey(k string) bool {
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	return len(k) == len("_method") && strings.EqualFold(k, "_method")
}
