package contract

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestRefreshSingleToken: an invalid user token is refreshed with itself
// as the credential; the new token is set as a cookie and forwarded. A
// refresh token in the answer is ignored without cookies.refresh.
func TestRefreshSingleToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		old := fakebackend.Token("olga-old")
		fresh := fakebackend.Token("olga-new")
		olga := fakebackend.UserData("u-olga", "user", nil)
		e.be.SetValidate(old, fakebackend.Unauthorized())
		e.be.RefreshTo(old, fresh, fakebackend.Token("olga-rotated"), olga)
		h := e.handler(t, e.opts())

		r := e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, old))

		calls := e.be.Calls(fakebackend.Refresh)
		if len(calls) != 1 {
			t.Fatalf("refresh calls: got %d, want 1", len(calls))
		}
		if c := calls[0]; c.Method != http.MethodPost || c.Path != fakebackend.RefreshPath || c.Authorization != "Bearer "+old {
			t.Errorf("refresh call: got %s %s Authorization %q, want POST %s Authorization %q",
				c.Method, c.Path, c.Authorization, fakebackend.RefreshPath, "Bearer "+old)
		}
		if got := e.be.CountFor(fakebackend.Validate, fresh); got != 1 {
			t.Errorf("validate calls for the new token: got %d, want 1 (a refresh counts only if the new token validates)", got)
		}
		testkit.WantIdentity(t, r, fresh, olga, "u-olga", "user", fresh)
		c := testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
		testkit.WantCookieAttrs(t, c, "/", 7*24*3600, false)
		if len(r.Cookies) != 1 {
			t.Errorf("Set-Cookie: got %q, want only %s (single-token mode sets no refresh cookie)", r.Header.Values("Set-Cookie"), testkit.UserCookie)
		}
		testkit.WantNoStore(t, r)
	})
}

// TestRefreshCookieAttributes: Secure unless cookies.secure=false, Max-Age
// from cookies.userMaxAge.
func TestRefreshCookieAttributes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		olga := fakebackend.UserData("u-olga", "user", nil)
		for _, tc := range []struct {
			desc       string
			cookies    m
			wantMaxAge int
			wantSecure bool
		}{
			{"defaults", m{"secure": nil}, 604800, true},
			{"secure true", m{"secure": "true"}, 604800, true},
			{"secure false", m{"secure": "false"}, 604800, false},
			{"userMaxAge 1h", m{"userMaxAge": "1h"}, 3600, false},
			{"userMaxAge 90m", m{"userMaxAge": "90m"}, 5400, false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				old := fakebackend.Token(t.Name())
				fresh := fakebackend.Token(t.Name() + "-new")
				e.be.SetValidate(old, fakebackend.Unauthorized())
				e.be.RefreshTo(old, fresh, "", olga)
				h := e.handler(t, e.opts(m{"cookies": tc.cookies}))
				r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, old))
				testkit.WantForwarded(t, r)
				c := testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
				testkit.WantCookieAttrs(t, c, "/", tc.wantMaxAge, tc.wantSecure)
			})
		}
	})
}

// TestRefreshDualToken: with cookies.refresh set, the refresh cookie is
// the credential when present; a rotated refresh token replaces it, a
// missing one keeps it.
func TestRefreshDualToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie}}))
		pat := fakebackend.UserData("u-pat", "user", nil)
		for _, tc := range []struct {
			desc        string
			sendAccess  bool
			sendRefresh bool
			rotate      bool
		}{
			{"both cookies, rotation", true, true, true},
			{"both cookies, no rotation", true, true, false},
			{"refresh cookie only, rotation", false, true, true},
			{"access cookie only: the access token is the credential", true, false, true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				access := fakebackend.Token(t.Name() + "-access")
				refresh := fakebackend.Token(t.Name() + "-refresh")
				fresh := fakebackend.Token(t.Name() + "-fresh")
				rotated := ""
				if tc.rotate {
					rotated = fakebackend.Token(t.Name() + "-rotated")
				}
				credential := refresh
				if !tc.sendRefresh {
					credential = access
				}
				e.be.SetValidate(access, fakebackend.Unauthorized())
				e.be.RefreshTo(credential, fresh, rotated, pat)

				rq := testkit.Page("/")
				if tc.sendAccess {
					rq = rq.Cookie(testkit.UserCookie, access)
				}
				if tc.sendRefresh {
					rq = rq.Cookie(testkit.RefreshCookie, refresh)
				}
				before := e.be.Count(fakebackend.Refresh)
				r := e.do(t, h, rq)

				calls := e.be.Calls(fakebackend.Refresh)[before:]
				if len(calls) != 1 || calls[0].Authorization != "Bearer "+credential {
					t.Fatalf("refresh calls: got %+v, want one with Authorization %q", calls, "Bearer "+credential)
				}
				testkit.WantIdentity(t, r, fresh, pat, "u-pat", "user", fresh)
				testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
				testkit.WantNoCookieClearing(t, r)
				switch {
				case tc.rotate:
					c := testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated)
					if !c.HttpOnly {
						t.Errorf("refresh cookie: HttpOnly missing (%q)", c.Raw)
					}
				case tc.sendRefresh:
					// Kept: either untouched or set again to the same value.
					for _, c := range r.SetCookies(testkit.RefreshCookie) {
						if c.Value != refresh {
							t.Errorf("Set-Cookie %s: got %q, want the old refresh cookie kept", testkit.RefreshCookie, c.Raw)
						}
					}
				}
			})
		}
	})
}

// TestRefreshGraceWindow: a request still carrying the old cookie after a
// refresh gets the same new token without a second refresh call, for
// refresh.graceWindow.
func TestRefreshGraceWindow(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		quinn := fakebackend.UserData("u-quinn", "user", nil)
		for _, tc := range []struct {
			desc      string
			options   m
			wait      time.Duration
			wantCalls int
		}{
			{"default window, right after", m{}, 0, 1},
			{"default window, after the cache TTL", m{"cache": m{"ttl": "100ms"}}, 300 * time.Millisecond, 1},
			{"after a short window", m{"refresh": m{"graceWindow": "200ms"}}, 500 * time.Millisecond, 2},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				old := fakebackend.Token(t.Name())
				fresh := fakebackend.Token(t.Name() + "-new")
				e.be.SetValidate(old, fakebackend.Unauthorized())
				e.be.RefreshTo(old, fresh, "", quinn)
				h := e.handler(t, e.opts(tc.options))

				first := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, old))
				testkit.WantCookieSet(t, first, testkit.UserCookie, fresh)
				if tc.wait > 0 {
					time.Sleep(tc.wait) // wall time for the window or TTL to pass
				}
				second := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, old))
				if got := e.be.CountFor(fakebackend.Refresh, old); got != tc.wantCalls {
					t.Errorf("refresh calls with the old credential: got %d, want %d", got, tc.wantCalls)
				}
				testkit.WantCookieSet(t, second, testkit.UserCookie, fresh)
				testkit.WantIdentity(t, second, fresh, quinn, "u-quinn", "user", fresh)
			})
		}
	})
}

// TestRefreshNotSuccessful: a refresh answer is a success only with
// success true, a non-empty data.accessToken, and a new token that
// validates; otherwise nothing new is set or forwarded.
func TestRefreshNotSuccessful(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/account")}}))
		for _, tc := range []struct {
			desc   string
			answer func(fresh string) fakebackend.Answer
			// freshValid registers the new token as valid.
			freshValid bool
		}{
			{"new token does not validate", func(fresh string) fakebackend.Answer {
				return fakebackend.Refreshed(fresh, "")
			}, false},
			{"success false", func(fresh string) fakebackend.Answer {
				return fakebackend.Answer{JSON: m{"success": false, "data": m{"accessToken": fresh}}}
			}, true},
			{"empty accessToken", func(string) fakebackend.Answer {
				return fakebackend.Answer{JSON: m{"success": true, "data": m{"accessToken": ""}}}
			}, true},
			{"no data", func(string) fakebackend.Answer {
				return fakebackend.Answer{JSON: m{"success": true}}
			}, true},
			{"garbage", func(string) fakebackend.Answer { return fakebackend.Garbage() }, true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				old := fakebackend.Token(t.Name())
				fresh := fakebackend.Token(t.Name() + "-new")
				e.be.SetValidate(old, fakebackend.Unauthorized())
				if tc.freshValid {
					e.be.SetUser(fresh, fakebackend.UserData("u-x", "user", nil))
				}
				e.be.SetRefresh(old, tc.answer(fresh))
				r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, old))
				testkit.WantNotForwarded(t, r)
				if r.Code != http.StatusUnauthorized && r.Code != http.StatusServiceUnavailable {
					t.Errorf("status: got %d, want 401 or 503", r.Code)
				}
				for _, c := range r.SetCookies(testkit.UserCookie) {
					if c.Value != "" && !testkit.IsClearing(c) {
						t.Errorf("Set-Cookie %q after a failed refresh, want no new user cookie", c.Raw)
					}
				}
			})
		}
	})
}

// TestRefreshReuse: a reuse answer (409, or code/error/reason
// "token_reuse") logs the user out: every cookie carried is cleared, API
// requests get 401 JSON, pages a login redirect, and no guest is minted.
func TestRefreshReuse(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes":  m{"protected": testkit.List("/account", "/api/account")},
		}))
		guestTok := fakebackend.Token("reuse-guest")
		e.be.SetUser(guestTok, fakebackend.UserData("g-reuse", "guest", nil))
		answers := []struct {
			desc   string
			answer fakebackend.Answer
		}{
			{"409", fakebackend.Reuse()},
			{"409 without a body", fakebackend.Answer{Status: http.StatusConflict}},
			{"401 error token_reuse", fakebackend.Answer{Status: 401, JSON: m{"success": false, "error": "token_reuse"}}},
			{"403 reason token_reuse", fakebackend.Answer{Status: 403, JSON: m{"success": false, "reason": "token_reuse"}}},
			{"400 code token_reuse", fakebackend.Answer{Status: 400, JSON: m{"success": false, "code": "token_reuse"}}},
			{"200 success false code token_reuse", fakebackend.Answer{JSON: m{"success": false, "code": "token_reuse"}}},
		}
		requests := []struct {
			desc string
			rq   testkit.Request
			page bool
		}{
			{"protected API", testkit.API("/api/account"), false},
			{"protected page", testkit.Page("/account?tab=1"), true},
			{"unprotected API", testkit.API("/api/news"), false},
			{"unprotected page", testkit.Page("/news"), true},
		}
		for _, a := range answers {
			for _, rc := range requests {
				t.Run(a.desc+"/"+rc.desc, func(t *testing.T) {
					access := fakebackend.Token(t.Name() + "-access")
					refresh := fakebackend.Token(t.Name() + "-refresh")
					e.be.SetValidate(access, fakebackend.Unauthorized())
					e.be.SetRefresh(refresh, a.answer)
					mintsBefore := e.be.Count(fakebackend.Guest)

					r := e.do(t, h, rc.rq.Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh).Cookie(testkit.GuestCookie, guestTok))

					if got := e.be.CountFor(fakebackend.Refresh, refresh); got != 1 {
						t.Errorf("refresh calls: got %d, want 1", got)
					}
					testkit.WantNotForwarded(t, r)
					for _, name := range []string{testkit.UserCookie, testkit.RefreshCookie, testkit.GuestCookie} {
						testkit.WantCookieCleared(t, r, name)
					}
					if got := e.be.Count(fakebackend.Guest) - mintsBefore; got != 0 {
						t.Errorf("guest mints: got %d, want 0 (no guest fallback after reuse)", got)
					}
					if rc.page {
						if loc := r.Header.Get("Location"); r.Code/100 != 3 || !strings.HasPrefix(loc, "/login") {
							t.Errorf("got %d Location %q, want a redirect to /login", r.Code, loc)
						}
						testkit.WantNoStore(t, r)
					} else {
						testkit.WantJSONError(t, r, http.StatusUnauthorized)
					}
				})
			}
		}
	})
}

// TestRefreshFatal: 401 (expired) and 403 (revoked) clear the user and
// refresh cookies carried; with guests on (and fallbackToGuest, default
// true) the visitor continues as a guest; protected routes deny as for
// anonymous visitors.
func TestRefreshFatal(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		guestOn := e.guestOpts()
		routes := m{"cookies": m{"refresh": testkit.RefreshCookie}, "routes": m{"protected": testkit.List("/account", "/api/account")}}
		handlers := map[string]http.Handler{
			"guests off":             e.handler(t, e.opts(routes)),
			"guests on":              e.handler(t, e.opts(routes, guestOn)),
			"guests on, no fallback": e.handler(t, e.opts(routes, guestOn, m{"refresh": m{"fallbackToGuest": "false"}})),
		}
		validGuest := fakebackend.Token("fatal-guest")
		validGuestData := fakebackend.UserData("g-fatal", "guest", nil)
		e.be.SetUser(validGuest, validGuestData)

		type outcome int
		const (
			anonymous outcome = iota
			minted
			guestCookieUsed
		)
		for _, ans := range []struct {
			desc   string
			answer fakebackend.Answer
		}{
			{"expired 401", fakebackend.Expired()},
			{"revoked 403", fakebackend.Revoked()},
		} {
			for _, tc := range []struct {
				desc       string
				handler    string
				guestToken string
				want       outcome
			}{
				{"guests off", "guests off", "", anonymous},
				{"guest minted", "guests on", "", minted},
				{"guest cookie used", "guests on", validGuest, guestCookieUsed},
				{"no fallback", "guests on, no fallback", "", anonymous},
			} {
				t.Run(ans.desc+"/"+tc.desc, func(t *testing.T) {
					h := handlers[tc.handler]
					access := fakebackend.Token(t.Name() + "-access")
					refresh := fakebackend.Token(t.Name() + "-refresh")
					e.be.SetValidate(access, fakebackend.Unauthorized())
					e.be.SetRefresh(refresh, ans.answer)
					withCookies := func(rq testkit.Request) testkit.Request {
						rq = rq.Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)
						if tc.guestToken != "" {
							rq = rq.Cookie(testkit.GuestCookie, tc.guestToken)
						}
						return rq
					}

					t.Run("public page", func(t *testing.T) {
						mints := e.be.Count(fakebackend.Guest)
						r := e.do(t, h, withCookies(testkit.Page("/news")))
						testkit.WantCookieCleared(t, r, testkit.UserCookie)
						testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
						gotMints := e.be.Count(fakebackend.Guest) - mints
						switch tc.want {
						case anonymous:
							testkit.WantAnonymous(t, r)
							if gotMints != 0 {
								t.Errorf("guest mints: got %d, want 0", gotMints)
							}
						case minted:
							if gotMints != 1 {
								t.Fatalf("guest mints: got %d, want 1", gotMints)
							}
							testkit.WantMintedGuest(t, e.be, r)
						case guestCookieUsed:
							if gotMints != 0 {
								t.Errorf("guest mints: got %d, want 0 (the valid guest cookie is used)", gotMints)
							}
							testkit.WantIdentity(t, r, validGuest, validGuestData, "g-fatal", "guest", "")
							for _, c := range r.SetCookies(testkit.GuestCookie) {
								if testkit.IsClearing(c) {
									t.Errorf("Set-Cookie %q clears the valid guest cookie", c.Raw)
								}
							}
						}
					})
					t.Run("protected API", func(t *testing.T) {
						r := e.do(t, h, withCookies(testkit.API("/api/account")))
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, http.StatusUnauthorized)
						testkit.WantCookieCleared(t, r, testkit.UserCookie)
						testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
					})
					t.Run("protected page", func(t *testing.T) {
						r := e.do(t, h, withCookies(testkit.Page("/account")))
						testkit.WantNotForwarded(t, r)
						testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
						testkit.WantCookieCleared(t, r, testkit.UserCookie)
					})
				})
			}
		}
	})
}
