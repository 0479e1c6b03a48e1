package authlayer

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/authlayer/authlayer/internal/opts"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The audit events, named as next-api-layer names them so existing log
// queries keep working.
const (
	eventAuthSuccess       = "auth:success"
	eventAuthFail          = "auth:fail"
	eventAuthGuest         = "auth:guest"
	eventAuthRefresh       = "auth:refresh"
	eventAuthRefreshFail   = "auth:refresh:fail"
	eventAuthReuse         = "auth:reuse"
	eventAccessDenied      = "access:denied"
	eventCSRFFail          = "csrf:fail"
	eventRateLimitExceeded = "rateLimit:exceeded"
	eventError             = "error"
	eventAuthLogin         = "auth:login"
	eventAuthLoginFail     = "auth:login:fail"
	eventAuthLogout        = "auth:logout"
)

// auditEventNames lists every event audit.events may name.
var auditEventNames = []string{
	eventAuthSuccess, eventAuthFail, eventAuthGuest, eventAuthRefresh,
	eventAuthRefreshFail, eventAuthReuse, eventAccessDenied, eventCSRFFail,
	eventAuthLogin, eventAuthLoginFail, eventAuthLogout,
	eventRateLimitExceeded, eventError,
}

const (
	// auditMaxField caps every string written: a 4 KiB path or a huge
	// header repeated on every request must not bloat the log.
	auditMaxField = 512
	// auditTruncated marks a capped value, so a reader knows it is cut.
	auditTruncated = "..."
	// auditSaltBytes is the size of the random salt drawn when
	// audit.salt is empty.
	auditSaltBytes = 32
	// auditHashBytes of the HMAC go into tokenHash: enough to correlate
	// events of one token, too short to be worth more than that.
	auditHashBytes = 16
	// auditTimeLayout is RFC 3339 with milliseconds; times are UTC.
	auditTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// auditLog writes one JSON line per security event. A nil *auditLog is a
// disabled log: every function here accepts it and does nothing.
type auditLog struct {
	mu         sync.Mutex // one Write per line, so lines never interleave
	out        io.Writer
	middleware string
	enabled    map[string]bool // the events that pass the filter
	salt       []byte
	now        func() time.Time
}

// auditRecord is one event; the caller fills what it knows.
type auditRecord struct {
	Event  string // one of the event constants
	IP     string // client IP
	Method string
	Path   string // canonical path
	UserID string // when known
	// Token is the raw token when there is no user id. It is NEVER
	// written: only its salted hash goes in "tokenHash".
	Token   string
	Success bool
	Reason  string // short machine word: "expired", "reuse", "cross-site", ...
	Status  int    // HTTP status authlayer answered, 0 if forwarded
}

// auditLine is the JSON shape of one line (a flat tagged struct, which
// Yaegi marshals correctly). Success is always written: false is news.
type auditLine struct {
	Time       string `json:"time"`
	Event      string `json:"event"`
	Middleware string `json:"middleware,omitempty"`
	IP         string `json:"ip,omitempty"`
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	UserID     string `json:"userId,omitempty"`
	TokenHash  string `json:"tokenHash,omitempty"`
	Success    bool   `json:"success"`
	Reason     string `json:"reason,omitempty"`
	Status     int    `json:"status,omitempty"`
}

// processSalt is drawn once per process when audit.salt is empty, so token
// hashes correlate across routers and configuration reloads (Traefik calls
// New for each) but not across restarts.
var (
	processSaltOnce sync.Once
	processSalt     []byte
	processSaltErr  error
)

// compileAudit is the audit.* step of compileSettings: s.audit is nil when
// the log is off. Settings do not know the middleware's name; New sets it.
func compileAudit(c *Config, s *settings) error {
	log, err := newAuditLog(c.Audit, "", os.Stdout)
	s.audit = log
	return err
}

// newAuditLog checks the audit options and returns nil when the log is
// off. The event filter is checked even then, so a typo is found before
// the log is turned on.
func newAuditLog(c AuditConfig, middleware string, out io.Writer) (*auditLog, error) {
	enabled, err := auditEventFilter(c.Events)
	if err != nil {
		return nil, err
	}
	if !c.Enabled {
		return nil, nil
	}
	salt, err := auditSalt(c.Salt)
	if err != nil {
		return nil, err
	}
	return &auditLog{
		out:        out,
		middleware: capAuditField(middleware),
		enabled:    enabled,
		salt:       salt,
		now:        time.Now,
	}, nil
}

// auditEventFilter turns audit.events into the set of events to write;
// empty means all. Names are matched ignoring case and surrounding spaces
// (a label value "auth:fail, csrf:fail" is split on commas only).
func auditEventFilter(events []string) (map[string]bool, error) {
	enabled := make(map[string]bool, len(auditEventNames))
	for _, name := range events {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		known := knownAuditEvent(name)
		if known == "" {
			return nil, opts.Error("audit.events", "unknown event %q (known: %s)",
				name, strings.Join(auditEventNames, ", "))
		}
		enabled[known] = true
	}
	if len(enabled) == 0 {
		for _, name := range auditEventNames {
			enabled[name] = true
		}
	}
	return enabled, nil
}

// knownAuditEvent returns the event's canonical spelling, or "".
func knownAuditEvent(name string) string {
	for _, known := range auditEventNames {
		if strings.EqualFold(name, known) {
			return known
		}
	}
	return ""
}

func auditSalt(configured string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	processSaltOnce.Do(func() {
		b := make([]byte, auditSaltBytes)
		if _, err := rand.Read(b); err != nil {
			processSaltErr = err
			return
		}
		processSalt = b
	})
	if processSaltErr != nil {
		return nil, opts.Error("audit.salt", "is empty and no random salt could be drawn: %v", processSaltErr)
	}
	return processSalt, nil
}

// auditEnabled reports whether event would be written, so the caller can
// skip building a record.
func auditEnabled(a *auditLog, event string) bool {
	return a != nil && a.enabled[event]
}

// audit writes one JSON line for r if its event passes the filter. Safe
// for concurrent use.
func audit(a *auditLog, r auditRecord) {
	if !auditEnabled(a, r.Event) {
		return
	}
	line := encodeAuditLine(a, r)
	if line == nil {
		return
	}
	a.mu.Lock()
	_, _ = a.out.Write(line)
	a.mu.Unlock()
}

// encodeAuditLine renders r as one line ending in "\n". encoding/json
// escapes control characters, U+2028 and U+2029 and replaces invalid
// UTF-8; escapeC1Controls adds the C1 controls (U+0085 is a line break to
// some log readers). So no field can start a new line.
func encodeAuditLine(a *auditLog, r auditRecord) []byte {
	if len(r.Event)+len(r.IP)+len(r.Method)+len(r.Path)+len(r.UserID)+len(r.Reason) > auditMaxField {
		capAuditRecord(&r)
	}
	l := auditLine{
		Time:       a.now().UTC().Format(auditTimeLayout),
		Event:      r.Event,
		Middleware: a.middleware,
		IP:         r.IP,
		Method:     r.Method,
		Path:       r.Path,
		UserID:     r.UserID,
		Success:    r.Success,
		Reason:     r.Reason,
		Status:     r.Status,
	}
	if r.UserID == "" && r.Token != "" {
		l.TokenHash = auditTokenHash(a.salt, r.Token)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&l); err != nil {
		return nil
	}
	return escapeC1Controls(buf.Bytes())
}

// auditTokenHash is HMAC-SHA256 of the token under the salt, the first
// auditHashBytes in hex: it correlates events of one anonymous token
// without revealing it.
func auditTokenHash(salt []byte, token string) string {
	m := hmac.New(sha256.New, salt)
	_, _ = m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil)[:auditHashBytes])
}

// capAuditRecord caps every string field of r; rare, so it is kept off
// the common path (one length sum there instead of six calls).
func capAuditRecord(r *auditRecord) {
	r.Event = capAuditField(r.Event)
	r.IP = capAuditField(r.IP)
	r.Method = capAuditField(r.Method)
	r.Path = capAuditField(r.Path)
	r.UserID = capAuditField(r.UserID)
	r.Reason = capAuditField(r.Reason)
}

// capAuditField cuts s to at most auditMaxField bytes, on a character
// boundary, ending in auditTruncated.
func capAuditField(s string) string {
	if len(s) <= auditMaxField {
		return s
	}
	cut := auditMaxField - len(auditTruncated)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + auditTruncated
}

// escapeC1Controls rewrites U+0080..U+009F (UTF-8 0xC2 0x80..0x9F) as
// \u00XX. It runs on encoded JSON, where every non-ASCII byte is inside a
// string and the UTF-8 is valid, so the escape keeps the value.
func escapeC1Controls(line []byte) []byte {
	if bytes.IndexByte(line, 0xC2) < 0 {
		return line
	}
	return rewriteC1Controls(line)
}

func rewriteC1Controls(line []byte) []byte {
	const hexDigits = "0123456789abcdef"
	out := make([]byte, 0, len(line)+16)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == 0xC2 && i+1 < len(line) && line[i+1] >= 0x80 && line[i+1] <= 0x9F {
			n := line[i+1]
			out = append(out, '\\', 'u', '0', '0', hexDigits[n>>4], hexDigits[n&0x0F])
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}
