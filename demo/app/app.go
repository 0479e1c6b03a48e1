// Package app is the demo web app behind authlayer: a few server-rendered
// pages and two JSON endpoints. It knows nothing about tokens or cookies;
// it reads only the identity headers authlayer sets (see IdentityFrom) and
// still checks them itself on the pages that need a user, as defence in
// depth should the proxy be misconfigured.
package app

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// authlayer's session endpoints and its expiry hint cookie, as the demo
// configures them (endpoints.login, endpoints.logout, endpoints.session,
// cookies.expiryHint; the demo's tests check that the labels agree). The
// login and logout forms post to authlayer, and the dashboard's script
// asks the session endpoint and reads the hint: the app never handles a
// credential or a token.
const (
	LoginEndpoint    = "/auth/login"
	LogoutEndpoint   = "/auth/logout"
	SessionEndpoint  = "/auth/session"
	ExpiryHintCookie = "authExpires"
)

// The error codes authlayer's login endpoint sends a form back to the
// login page with (?error=…), and what the page says for each.
var loginErrors = map[string]string{
	"invalid_credentials": "Wrong username or password.",
	"too_many_attempts":   "Too many sign-in attempts from here. Wait a minute, then try again.",
	"unavailable":         "The sign-in service is not answering. Try again in a moment.",
	"invalid_request":     "The sign-in request was not understood. Try again.",
}

// loginErrorMessage is what the login page says for ?error=code: "" for
// none, a fixed sentence otherwise (never the code itself).
func loginErrorMessage(code string) string {
	if code == "" {
		return ""
	}
	if msg, ok := loginErrors[code]; ok {
		return msg
	}
	return "Signing in failed. Try again."
}

// endpoints is what the templates get of the constants above.
type endpoints struct{ Login, Logout, Session, Hint string }

//go:embed static
var staticFS embed.FS

// Options configures the app. The zero value works.
type Options struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger gets one line per refresh seen; never a token. Default: none.
	Logger *log.Logger
	// ValidateCall is the request authlayer validates a token with when
	// it asks the backend, as the dashboard shows it. Default
	// DefaultValidateCall (the demo backend's; a Django backend's is
	// "POST /api/token/verify/").
	ValidateCall string
}

// DefaultValidateCall is the demo backend's validation request.
const DefaultValidateCall = "GET /auth/me"

// App is the demo app's HTTP handler.
type App struct {
	now          func() time.Time
	validateCall string
	logger       *log.Logger
	pages        map[string]*template.Template
	refreshes    *refreshLog
	mux          *http.ServeMux
}

// maxTrackedUsers bounds the in-memory "last refreshed" table.
const maxTrackedUsers = 10000

// New builds the app.
func New(opts Options) (*App, error) {
	a := &App{now: opts.Now, validateCall: opts.ValidateCall, logger: opts.Logger, pages: make(map[string]*template.Template), refreshes: newRefreshLog(maxTrackedUsers), mux: http.NewServeMux()}
	if a.now == nil {
		a.now = time.Now
	}
	if a.validateCall == "" {
		a.validateCall = DefaultValidateCall
	}
	funcs := template.FuncMap{"clock": clock, "relative": a.relative, "unix": unixSeconds}
	for _, name := range []string{"home", "login", "dashboard", "admin", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("app: template %s: %w", name, err)
		}
		a.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	a.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServer(http.FS(static)))))
	a.mux.HandleFunc("GET /favicon.ico", a.favicon)
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET /login", a.login)
	a.mux.HandleFunc("GET /dashboard", a.dashboard)
	a.mux.HandleFunc("GET /admin", a.admin)
	a.mux.HandleFunc("GET /api/me", a.apiMe)
	a.mux.HandleFunc("GET /api/public/hello", a.apiHello)
	a.mux.HandleFunc("GET /", a.notFound)
	return a, nil
}

// ServeHTTP records refreshes, sets the security headers and routes.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := IdentityFrom(r); id.Refreshed && id.IsUser() {
		a.refreshes.record(id.UserID, a.now())
		if a.logger != nil {
			a.logger.Printf("token refreshed by authlayer user=%s path=%s", id.UserID, r.URL.Path)
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	a.mux.ServeHTTP(w, r)
}

// view is what every page template gets.
type view struct {
	Title  string
	Active string
	ID     Identity
	Now    time.Time
	// Auth are authlayer's endpoints and expiry hint cookie.
	Auth endpoints
	// ValidateCall is how authlayer asks the backend about a token.
	ValidateCall string
	// Page-specific fields.
	Redirect      string
	LoginError    string
	Watch         bool
	LastRefreshed time.Time
	UserJSON      string
	Fields        []field
	Status        int
	Message       string
}

// field is one row of a key/value table: its label, its value, and the
// user object's key it shows ("" for the rows that are not one).
type field struct{ Key, Value, Claim string }

func (a *App) render(w http.ResponseWriter, status int, name string, v view) {
	v.Now = a.now()
	v.Auth = endpoints{Login: LoginEndpoint, Logout: LogoutEndpoint, Session: SessionEndpoint, Hint: ExpiryHintCookie}
	v.ValidateCall = a.validateCall
	var buf strings.Builder
	if err := a.pages[name].Execute(&buf, v); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Every page shows who is logged in: never let a cache share it.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "home", view{Title: "Home", Active: "home", ID: IdentityFrom(r)})
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.render(w, http.StatusOK, "login", view{
		Title: "Sign in", Active: "login", ID: IdentityFrom(r),
		Redirect:   safeLocalPath(q.Get("redirect")),
		LoginError: loginErrorMessage(q.Get("error")),
	})
}

func (a *App) dashboard(w http.ResponseWriter, r *http.Request) {
	id := IdentityFrom(r)
	if !id.IsUser() {
		// authlayer should never let this through; fail closed if it does.
		a.forbidden(w, id, http.StatusUnauthorized, "You need to sign in to see the dashboard.")
		return
	}
	// The token says when it was refreshed (iat after auth_time), however
	// the refresh happened: on a page, on the session endpoint the
	// dashboard's script asks, on another tab. Without those claims, the
	// last refresh this app saw (X-Refreshed-Token).
	last := id.RefreshedAt()
	if last.IsZero() && id.SignedIn.IsZero() {
		last, _ = a.refreshes.get(id.UserID)
	}
	pretty, _ := json.MarshalIndent(id.User, "", "  ")
	a.render(w, http.StatusOK, "dashboard", view{
		Title: "Dashboard", Active: "dashboard", ID: id,
		Watch: r.URL.Query().Get("watch") != "", LastRefreshed: last,
		UserJSON: string(pretty), Fields: userFields(id),
	})
}

func (a *App) admin(w http.ResponseWriter, r *http.Request) {
	id := IdentityFrom(r)
	if !id.IsUser() || !id.HasRole("admin") {
		a.forbidden(w, id, http.StatusForbidden, "This page is for administrators only.")
		return
	}
	a.render(w, http.StatusOK, "admin", view{Title: "Admin", Active: "admin", ID: id, Fields: userFields(id)})
}

func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusNotFound, "error", view{Title: "Not found", ID: IdentityFrom(r), Status: http.StatusNotFound, Message: "There is no page at this address."})
}

func (a *App) forbidden(w http.ResponseWriter, id Identity, status int, message string) {
	a.render(w, status, "error", view{Title: http.StatusText(status), ID: id, Status: status, Message: message})
}

func (a *App) apiMe(w http.ResponseWriter, r *http.Request) {
	id := IdentityFrom(r)
	if !id.IsUser() {
		writeJSON(w, http.StatusUnauthorized, map[string]interface{}{"success": false, "message": "not authenticated"})
		return
	}
	data := map[string]interface{}{"id": id.UserID, "tokenType": id.TokenType, "user": id.User}
	if last, ok := a.refreshes.get(id.UserID); ok {
		data["lastRefreshedAt"] = last.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "data": data})
}

func (a *App) apiHello(w http.ResponseWriter, r *http.Request) {
	id := IdentityFrom(r)
	kind := "anonymous"
	switch {
	case id.IsUser():
		kind = "user"
	case id.IsGuest():
		kind = "guest"
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "message": "Hello from the demo app", "visitor": kind})
}

func (a *App) favicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#4f46e5"/><path d="M5 7V5.5a3 3 0 0 1 6 0V7h.5a.5.5 0 0 1 .5.5v5a.5.5 0 0 1-.5.5h-7a.5.5 0 0 1-.5-.5v-5a.5.5 0 0 1 .5-.5zm1.5 0h3V5.5a1.5 1.5 0 0 0-3 0z" fill="#fff"/></svg>`))
}

// userFields lists the user object's fields for a table, known ones first.
func userFields(id Identity) []field {
	out := []field{{"User id", id.UserID, ""}, {"Token type", id.TokenType, ""}}
	keys := make([]string, 0, len(id.User))
	for k := range id.User {
		if k != "id" && k != "type" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, field{k, formatValue(k, id.User[k]), k})
	}
	return out
}

// formatValue renders one user field: whole numbers without an exponent,
// epoch-second claims with their time, anything nested as JSON.
func formatValue(key string, v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		if (key == "exp" || key == "iat" || key == "nbf" || key == "auth_time") && x > 0 && x == float64(int64(x)) {
			s += " (" + clock(time.Unix(int64(x), 0)) + ")"
		}
		return s
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// safeLocalPath keeps a return-to path only if a browser cannot resolve it
// off-site (authlayer checks the value again before redirecting to it).
func safeLocalPath(p string) string {
	if p == "" || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return ""
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	return p
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d/time.Second)))
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unixSeconds is t in Unix seconds, 0 for the zero time (for the
// dashboard's script).
func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// clock formats t as a UTC wall-clock time.
func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04:05 UTC")
}

// relative says how far t is from now ("in 12s", "3s ago").
func (a *App) relative(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := t.Sub(a.now()).Round(time.Second)
	switch {
	case d > 0:
		return "in " + d.String()
	case d < 0:
		return (-d).String() + " ago"
	}
	return "now"
}
