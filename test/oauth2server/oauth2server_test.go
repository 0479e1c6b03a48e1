package oauth2server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/testkit"
)

// The server against the RFCs it claims: statuses, bodies and headers of
// every answer the oauth2 preset can meet.

var opaque = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

const (
	challengeBasic   = `Basic realm="oauth2server"`
	challengeNoToken = `Bearer realm="oauth2server"`
)

// wantError checks an RFC 6749 §5.2 error answer: status, JSON error code,
// no-store headers.
func wantError(t *testing.T, what string, r Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Field("error") != code {
		t.Fatalf("%s: got %s, want %d error %q", what, r, status, code)
	}
	if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, got)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("%s: Cache-Control %q, Pragma %q, want no-store, no-cache", what, r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
	}
	for k := range r.JSON {
		if k != "error" && k != "error_description" {
			t.Errorf("%s: unexpected field %q in %s", what, k, r)
		}
	}
}

// wantTokens checks an RFC 6749 §5.1 answer and returns its tokens.
func wantTokens(t *testing.T, what string, r Response, withRefresh bool) Tokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: got %s, want 200", what, r)
	}
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Errorf("%s: Cache-Control %q, Pragma %q, want no-store, no-cache", what, r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
	}
	if got := r.Header.Get("Content-Type"); got != "application/json;charset=UTF-8" {
		t.Errorf("%s: Content-Type %q", what, got)
	}
	want := []string{"access_token", "expires_in", "token_type"}
	if withRefresh {
		want = append(want, "refresh_token")
	}
	var got []string
	for k := range r.JSON {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: fields %v, want %v", what, got, want)
	}
	if r.Field("token_type") != "Bearer" {
		t.Errorf("%s: token_type %v", what, r.JSON["token_type"])
	}
	if v, _ := r.JSON["expires_in"].(float64); v != 300 {
		t.Errorf("%s: expires_in %v, want 300", what, r.JSON["expires_in"])
	}
	tk := Tokens{Access: r.Field("access_token"), Refresh: r.Field("refresh_token")}
	if !opaque.MatchString(tk.Access) || (withRefresh && !opaque.MatchString(tk.Refresh)) {
		t.Errorf("%s: the tokens are not 32 random bytes in base64url", what)
	}
	return tk
}

func form(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Add(kv[i], kv[i+1])
	}
	return f
}

func formHeader(extra ...string) http.Header {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func TestPasswordGrant(t *testing.T) {
	s := Start(t, Defaults())
	pw := form("grant_type", GrantPassword, "username", "alice", "password", "alice-pw")

	// Confidential client, HTTP Basic with the form-urlencoded secret.
	wantTokens(t, "basic", s.PostForm(t, TokenPath, ConfidentialID, pw), true)
	// Confidential client, client_secret_post.
	post := form("grant_type", GrantPassword, "username", "alice", "password", "alice-pw", "client_id", ConfidentialID, "client_secret", ConfidentialSecret)
	wantTokens(t, "client_secret_post", s.Do(t, http.MethodPost, TokenPath, formHeader(), post.Encode()), true)
	// Public client: client_id alone.
	wantTokens(t, "public", s.PostForm(t, TokenPath, PublicID, pw), true)
	// A scope asked is answered back.
	scoped := form("grant_type", GrantPassword, "username", "alice", "password", "alice-pw", "scope", "openid profile")
	if r := s.PostForm(t, TokenPath, PublicID, scoped); r.Status != http.StatusOK || r.Field("scope") != "openid profile" {
		t.Errorf("scope: %s", r)
	}

	calls := s.Calls(TokenPath)
	if len(calls) != 4 || calls[0].ClientAuth != "basic" || calls[1].ClientAuth != "post" || calls[2].ClientAuth != "none" {
		t.Errorf("recorded client authentication: %v", calls)
	}
	if c := calls[0]; c.ClientID != ConfidentialID || c.ContentType != "application/x-www-form-urlencoded" || c.Form.Get("grant_type") != GrantPassword || c.Status != 200 {
		t.Errorf("recorded call: %v", c)
	}
	if str := calls[1].String(); strings.Contains(str, "alice-pw") || strings.Contains(str, ConfidentialSecret) {
		t.Errorf("Call.String shows a secret: %s", str)
	}

	// §4.3.2 / §5.2 refusals.
	wantError(t, "wrong password", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "alice", "password", "nope")), 400, ErrInvalidGrant)
	wantError(t, "unknown user", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "carol", "password", "x")), 400, ErrInvalidGrant)
	wantError(t, "no password", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "alice")), 400, ErrInvalidRequest)
	wantError(t, "empty password is absent (§3.1)", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "alice", "password", "")), 400, ErrInvalidRequest)
	wantError(t, "no grant_type", s.PostForm(t, TokenPath, PublicID, form("username", "alice")), 400, ErrInvalidRequest)
	wantError(t, "unknown grant_type", s.PostForm(t, TokenPath, PublicID, form("grant_type", "client_credentials")), 400, ErrUnsupportedGrantType)
	wantError(t, "repeated parameter (§3.2)", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "alice", "username", "bob", "password", "x")), 400, ErrInvalidRequest)
	wantError(t, "JSON body", s.Do(t, http.MethodPost, TokenPath, http.Header{"Content-Type": {"application/json"}}, `{"grant_type":"password"}`), 400, ErrInvalidRequest)
	r := s.Do(t, http.MethodGet, TokenPath+"?grant_type=password", nil, "")
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" || r.Field("error") != ErrInvalidRequest {
		t.Errorf("GET /token: %s, Allow %q", r, r.Header.Get("Allow"))
	}
}

func TestUnauthorizedClient(t *testing.T) {
	o := Defaults()
	o.Clients = append(o.Clients, Client{ID: "refresh-only", Grants: []string{GrantRefresh}})
	s := Start(t, o)
	wantError(t, "password grant by a refresh-only client", s.PostForm(t, TokenPath, "refresh-only", form("grant_type", GrantPassword, "username", "alice", "password", "alice-pw")), 400, ErrUnauthorizedClient)
}

func TestClientAuthentication(t *testing.T) {
	s := Start(t, Defaults())
	pw := "grant_type=password&username=alice&password=alice-pw"
	invalid := func(what string, r Response) {
		t.Helper()
		wantError(t, what, r, http.StatusUnauthorized, ErrInvalidClient)
		if got := r.Header.Get("WWW-Authenticate"); got != challengeBasic {
			t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, challengeBasic)
		}
	}
	invalid("wrong secret (basic)", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth(ConfidentialID, "wrong")), pw))
	// RFC 6749 §2.3.1: the secret is form-urlencoded before the Basic
	// encoding; sent raw, this one ("%@" is no escape) does not decode.
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(ConfidentialID+":"+ConfidentialSecret))
	invalid("secret not form-urlencoded", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", raw), pw))
	invalid("not Basic", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", "Bearer x"), pw))
	invalid("unknown client (basic)", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth("nobody", "x")), pw))
	invalid("public client with Basic", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth(PublicID, "")), pw))
	invalid("wrong secret (post)", s.Do(t, http.MethodPost, TokenPath, formHeader(), pw+"&client_id="+ConfidentialID+"&client_secret=wrong"))
	invalid("confidential client without its secret", s.Do(t, http.MethodPost, TokenPath, formHeader(), pw+"&client_id="+ConfidentialID))
	invalid("unknown public client", s.Do(t, http.MethodPost, TokenPath, formHeader(), pw+"&client_id=nobody"))
	invalid("no client at all", s.Do(t, http.MethodPost, TokenPath, formHeader(), pw))
	invalid("client_id differs from Basic", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth(ConfidentialID, ConfidentialSecret)), pw+"&client_id="+PublicID))
	// §2.3: one method at a time.
	wantError(t, "Basic and client_secret", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth(ConfidentialID, ConfidentialSecret)), pw+"&client_secret=x"), 400, ErrInvalidRequest)
	// client_id beside Basic naming the same client is allowed (§3.2.1).
	wantTokens(t, "Basic and the same client_id", s.Do(t, http.MethodPost, TokenPath, formHeader("Authorization", testkit.BasicAuth(ConfidentialID, ConfidentialSecret)), pw+"&client_id="+ConfidentialID), true)
}

func TestRefreshRotationAndReuse(t *testing.T) {
	s := Start(t, Defaults())
	for _, client := range []string{ConfidentialID, PublicID} {
		first := s.Login(t, client, "alice", "alice-pw")
		second := wantTokens(t, client+": refresh", s.Refresh(t, client, first.Refresh), true)
		if second.Refresh == first.Refresh || second.Access == first.Access {
			t.Fatalf("%s: the refresh did not rotate the tokens", client)
		}
		third := wantTokens(t, client+": refresh of the rotated token", s.Refresh(t, client, second.Refresh), true)

		// The old access tokens stay valid until they expire.
		if r := s.Userinfo(t, first.Access); r.Status != http.StatusOK {
			t.Errorf("%s: an access token before the refresh: %s", client, r)
		}
		// Reuse of a retired refresh token: invalid_grant, and the family
		// is revoked, the newest tokens included.
		wantError(t, client+": replay", s.Refresh(t, client, first.Refresh), 400, ErrInvalidGrant)
		wantError(t, client+": newest refresh token after a replay", s.Refresh(t, client, third.Refresh), 400, ErrInvalidGrant)
		if r := s.Userinfo(t, third.Access); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: the newest access token after a replay: %s", client, r)
		}
		// Another grant of the same user is untouched.
		other := s.Login(t, client, "alice", "alice-pw")
		wantTokens(t, client+": another grant", s.Refresh(t, client, other.Refresh), true)
	}

	tk := s.Login(t, ConfidentialID, "alice", "alice-pw")
	wantError(t, "refresh token of another client", s.Refresh(t, PublicID, tk.Refresh), 400, ErrInvalidGrant)
	wantError(t, "unknown refresh token", s.Refresh(t, PublicID, "nope"), 400, ErrInvalidGrant)
	wantError(t, "no refresh token", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantRefresh)), 400, ErrInvalidRequest)
	wantError(t, "an access token as refresh token", s.Refresh(t, ConfidentialID, tk.Access), 400, ErrInvalidGrant)
	// §6: a scope beyond the original grant.
	scoped := s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "bob", "password", "bob-pw", "scope", "openid"))
	wantError(t, "wider scope", s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantRefresh, "refresh_token", scoped.Field("refresh_token"), "scope", "openid admin")), 400, ErrInvalidScope)
	if r := s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantRefresh, "refresh_token", scoped.Field("refresh_token"), "scope", "openid")); r.Status != 200 || r.Field("scope") != "openid" {
		t.Errorf("same scope: %s", r)
	}
}

func TestLifetimes(t *testing.T) {
	o := Defaults()
	o.AccessLifetime, o.RefreshLifetime = time.Minute, time.Hour
	s := Start(t, o)
	r := s.PostForm(t, TokenPath, PublicID, form("grant_type", GrantPassword, "username", "bob", "password", "bob-pw"))
	if v, _ := r.JSON["expires_in"].(float64); v != 60 {
		t.Errorf("expires_in %v, want 60", r.JSON["expires_in"])
	}
	s.Advance(time.Minute)
	if r := s.Userinfo(t, r.Field("access_token")); r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("an expired access token: %s %q", r, r.Header.Get("WWW-Authenticate"))
	}
	fresh := s.Refresh(t, PublicID, r.Field("refresh_token"))
	if fresh.Status != http.StatusOK {
		t.Fatalf("refresh after the access token expired: %s", fresh)
	}
	s.Advance(time.Hour)
	wantError(t, "expired refresh token", s.Refresh(t, PublicID, fresh.Field("refresh_token")), 400, ErrInvalidGrant)
}

func TestNoRotation(t *testing.T) {
	o := Defaults()
	o.NoRotation = true
	s := Start(t, o)
	tk := s.Login(t, PublicID, "alice", "alice-pw")
	for i := 0; i < 2; i++ {
		wantTokens(t, "refresh without rotation", s.Refresh(t, PublicID, tk.Refresh), false)
	}
}

func TestRevocation(t *testing.T) {
	s := Start(t, Defaults())
	for _, client := range []string{ConfidentialID, PublicID} {
		tk := s.Login(t, client, "alice", "alice-pw")
		// RFC 7009 §2.2: 200 for a token the server does not know.
		if r := s.Revoke(t, client, "never-issued", "refresh_token"); r.Status != http.StatusOK || r.Body != "" {
			t.Errorf("%s: revoking an unknown token: %s", client, r)
		}
		// A refresh token: it and every token of its grant.
		if r := s.Revoke(t, client, tk.Refresh, "refresh_token"); r.Status != http.StatusOK {
			t.Fatalf("%s: revoke: %s", client, r)
		}
		wantError(t, client+": refresh after revocation", s.Refresh(t, client, tk.Refresh), 400, ErrInvalidGrant)
		if r := s.Userinfo(t, tk.Access); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: the grant's access token after revocation: %s", client, r)
		}
		// Revoking it again is still 200.
		if r := s.Revoke(t, client, tk.Refresh, ""); r.Status != http.StatusOK {
			t.Errorf("%s: revoking twice: %s", client, r)
		}
		// An access token: itself only; the hint is only a hint.
		tk = s.Login(t, client, "alice", "alice-pw")
		if r := s.Revoke(t, client, tk.Access, "refresh_token"); r.Status != http.StatusOK {
			t.Fatalf("%s: revoke the access token: %s", client, r)
		}
		if r := s.Userinfo(t, tk.Access); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: a revoked access token: %s", client, r)
		}
		wantTokens(t, client+": refresh after the access token's revocation", s.Refresh(t, client, tk.Refresh), true)
	}
	tk := s.Login(t, ConfidentialID, "alice", "alice-pw")
	wantError(t, "another client's token", s.Revoke(t, PublicID, tk.Refresh, "refresh_token"), 400, ErrUnauthorizedClient)
	wantError(t, "no token", s.PostForm(t, RevokePath, PublicID, form("token_type_hint", "refresh_token")), 400, ErrInvalidRequest)
	r := s.Do(t, http.MethodPost, RevokePath, formHeader(), "token="+url.QueryEscape(tk.Refresh)+"&client_id="+ConfidentialID)
	wantError(t, "confidential client without its secret", r, http.StatusUnauthorized, ErrInvalidClient)
	if r := s.Refresh(t, ConfidentialID, tk.Refresh); r.Status != http.StatusOK {
		t.Errorf("a refused revocation revoked the token: %s", r)
	}
}

func TestUserinfo(t *testing.T) {
	s := Start(t, Defaults())
	tk := s.Login(t, PublicID, "alice", "alice-pw")
	r := s.Userinfo(t, tk.Access)
	if r.Status != http.StatusOK || r.Field("sub") != "sub-alice" || r.Field("preferred_username") != "alice" || r.Field("email") != "alice@example.test" {
		t.Fatalf("userinfo: %s", r)
	}
	if roles, _ := r.JSON["roles"].([]interface{}); len(roles) != 2 || roles[0] != "admin" || roles[1] != "staff" {
		t.Errorf("roles: %v", r.JSON["roles"])
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	bob := s.Userinfo(t, s.Login(t, PublicID, "bob", "bob-pw").Access)
	if _, has := bob.JSON["roles"]; has || bob.Field("sub") != "sub-bob" {
		t.Errorf("a user without roles: %s", bob)
	}
	// RFC 6750 §2.2: the form's access_token.
	if r := s.Do(t, http.MethodPost, UserinfoPath, formHeader(), "access_token="+tk.Access); r.Status != http.StatusOK || r.Field("sub") != "sub-alice" {
		t.Errorf("userinfo by form: %s", r)
	}
	// §3.1: no token, no error code.
	r = s.Do(t, http.MethodGet, UserinfoPath, nil, "")
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != challengeNoToken {
		t.Errorf("no token: %s %q", r, r.Header.Get("WWW-Authenticate"))
	}
	for what, token := range map[string]string{"garbage": "garbage", "a refresh token": tk.Refresh} {
		r := s.Userinfo(t, token)
		want := `Bearer realm="oauth2server", error="invalid_token", error_description=`
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), want) || r.Field("error") != ErrInvalidToken {
			t.Errorf("%s: %s %q", what, r, r.Header.Get("WWW-Authenticate"))
		}
	}
	r = s.Do(t, http.MethodPost, UserinfoPath, formHeader("Authorization", "Bearer "+tk.Access), "access_token="+tk.Access)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("two methods: %s %q", r, r.Header.Get("WWW-Authenticate"))
	}
	r = s.Do(t, http.MethodDelete, UserinfoPath, http.Header{"Authorization": {"Bearer " + tk.Access}}, "")
	if r.Status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %s", r)
	}
}

func TestCounts(t *testing.T) {
	s := Start(t, Defaults())
	tk := s.Login(t, PublicID, "alice", "alice-pw")
	s.Userinfo(t, tk.Access)
	s.Userinfo(t, tk.Access)
	s.Revoke(t, PublicID, tk.Refresh, "")
	s.Do(t, http.MethodGet, "/elsewhere", nil, "")
	got := s.Counts()
	want := map[string]int{TokenPath: 1, UserinfoPath: 2, RevokePath: 1, "/elsewhere": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Counts()[%s] = %d, want %d (%v)", k, got[k], v, got)
		}
	}
	if c := s.Calls(UserinfoPath); len(c) != 2 || !c[0].Bearer || c[0].Status != 200 {
		t.Errorf("userinfo calls: %v", c)
	}
	s.ResetCounts()
	if len(s.Counts()) != 0 || len(s.Calls(TokenPath)) != 0 || s.Count(TokenPath) != 0 {
		t.Errorf("after ResetCounts: %v", s.Counts())
	}
}
