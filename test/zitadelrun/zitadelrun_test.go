package zitadelrun

import (
	"net/http"
	"net/url"
	"testing"
)

// What the package documents about the real provider, checked against it:
// the code flow for both clients, refresh with rotation, a replay refused
// with invalid_grant, userinfo, revocation, and the proxy's counters.

func TestProvider(t *testing.T) {
	s := Start(t, Defaults())
	for _, client := range []string{WebClientID, NativeClientID} {
		tk := s.Login(t, client, "alice", "alice-pw")

		info := s.Userinfo(t, tk.Access)
		if info.Status != http.StatusOK || info.Field("sub") != "u-alice" || info.Field("preferred_username") != "alice" {
			t.Fatalf("%s: userinfo: %s", client, info)
		}
		if r := s.Userinfo(t, "garbage"); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: userinfo with a bad token: %s", client, r)
		}

		next := s.Refresh(t, client, tk.Refresh)
		rotated := next.Field("refresh_token")
		if next.Status != http.StatusOK || next.Field("access_token") == "" || rotated == "" || rotated == tk.Refresh || next.Field("token_type") != "Bearer" {
			t.Fatalf("%s: refresh: %s", client, next)
		}
		// The refresh deleted the access token the old refresh token had
		// issued: userinfo answers 403 for a token it no longer holds.
		if r := s.Userinfo(t, tk.Access); r.Status != http.StatusForbidden {
			t.Errorf("%s: the access token before the refresh: %s", client, r)
		}
		if r := s.Refresh(t, client, tk.Refresh); r.Status != http.StatusBadRequest || r.Field("error") != "invalid_grant" {
			t.Errorf("%s: replayed refresh token: %s, want 400 invalid_grant", client, r)
		}
		// No family revocation: the rotated token still works.
		again := s.Refresh(t, client, rotated)
		if again.Status != http.StatusOK {
			t.Fatalf("%s: the rotated refresh token after a replay: %s", client, again)
		}

		if r := s.Revoke(t, client, again.Field("refresh_token"), "refresh_token"); r.Status != http.StatusOK {
			t.Errorf("%s: revoke: %s", client, r)
		}
		if r := s.Refresh(t, client, again.Field("refresh_token")); r.Status != http.StatusBadRequest || r.Field("error") != "invalid_grant" {
			t.Errorf("%s: a revoked refresh token: %s", client, r)
		}
		if r := s.Userinfo(t, again.Field("access_token")); r.Status != http.StatusForbidden {
			t.Errorf("%s: the revoked refresh token's access token: %s", client, r)
		}
		if r := s.Revoke(t, client, "never-issued", "refresh_token"); r.Status != http.StatusOK {
			t.Errorf("%s: revoking an unknown token: %s", client, r)
		}
	}

	// Client authentication: the web client must authenticate.
	tk := s.Login(t, WebClientID, "bob", "bob-pw")
	r := s.Do(t, http.MethodPost, TokenPath, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh}, "client_id": {WebClientID}}.Encode())
	if r.Status == http.StatusOK {
		t.Errorf("the confidential client refreshed without its secret: %s", r)
	}

	// The helpers bypass the proxy; requests through URL are counted.
	if n := len(s.Counts()); n != 0 {
		t.Errorf("helpers were counted: %v", s.Counts())
	}
	ctx := t.Context()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+DiscoveryPath, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || s.Count(DiscoveryPath) != 1 {
		t.Errorf("through the proxy: %d, counts %v", resp.StatusCode, s.Counts())
	}
	s.ResetCounts()
	if s.Count(DiscoveryPath) != 0 {
		t.Errorf("after ResetCounts: %v", s.Counts())
	}
}
