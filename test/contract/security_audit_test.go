package contract

import (
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/testkit"
)

// The audit log writes JSON lines to os.Stdout, which the Yaegi factory
// cannot redirect per test; these tests pin what New accepts and refuses
// in audit.events, as labels give it.

// TestSecurityAuditEventsAccepted: known event names, as a comma list or
// a list, any case and with spaces around commas, build a working
// middleware, with the log on or off.
func TestSecurityAuditEventsAccepted(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			desc  string
			audit m
		}{
			{"label value", m{"enabled": "true", "events": "auth:success,access:denied"}},
			{"list", m{"enabled": "true", "events": testkit.List("auth:success", "access:denied")}},
			{"spaces and case", m{"enabled": "true", "events": "AUTH:SUCCESS, access:denied"}},
			{"every event", m{"enabled": "true", "events": "auth:success,auth:fail,auth:guest,auth:refresh,auth:refresh:fail,auth:reuse,access:denied,csrf:fail,rateLimit:exceeded,error"}},
			{"trailing comma", m{"enabled": "true", "events": "auth:success,"}},
			{"no filter", m{"enabled": "true"}},
			{"log off", m{"enabled": "false", "events": "auth:success,access:denied"}},
			{"with a salt", m{"enabled": "true", "events": "csrf:fail", "salt": "contract-salt"}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				h := e.handler(t, e.opts(m{"audit": tc.audit}))
				// A public anonymous request: no event, no output.
				testkit.WantAnonymous(t, e.do(t, h, testkit.API("/")))
			})
		}
	})
}

// TestSecurityAuditEventsRejected: an unknown event name is refused by
// New with an error naming audit.events and the bad name, even while the
// log is off (so a typo is found before it is turned on).
func TestSecurityAuditEventsRejected(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			desc  string
			audit m
		}{
			{"bogus", m{"enabled": "true", "events": "bogus"}},
			{"bogus among known ones", m{"enabled": "true", "events": "auth:success,bogus,access:denied"}},
			{"bogus in a list", m{"enabled": "true", "events": testkit.List("access:denied", "bogus")}},
			{"bogus while off", m{"enabled": "false", "events": "bogus"}},
			{"bogus without enabled", m{"events": "bogus"}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				options := e.opts(m{"audit": tc.audit})
				h, err := e.factory(options, e.up, t.Name())
				if err == nil {
					t.Fatalf("New(%v): got no error (handler %T), want one naming audit.events", options, h)
				}
				if !strings.Contains(err.Error(), "audit.events") || !strings.Contains(err.Error(), "bogus") {
					t.Errorf("New: got error %q, want it to name audit.events and \"bogus\"", err)
				}
			})
		}
	})
}
