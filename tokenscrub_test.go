package authlayer

import "testing"

// TestWithoutTokensEveryShape: a token echoed whole, after "Bearer ", in
// "name=<t>", inside a message or a list, or any JWT-shaped string, is
// dropped; plain fields stay.
func TestWithoutTokensEveryShape(t *testing.T) {
	tok := "opaque-session-token-0123456789"
	doc := map[string]interface{}{
		"whole": tok, "bearer": "Bearer xyz", "cookie": "userToken=" + tok, "message": "your token is " + tok + ".",
		"list": []interface{}{"fine", "x" + tok}, "jwtish": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
		"sessionToken": "short", "id_token": "short", "name": "Zoë", "count": 3,
		"apiKey": []interface{}{"k"}, "refreshTokens": []interface{}{"opaque"}, "tokens": map[string]interface{}{"a": "b"},
	}
	got := withoutTokens(doc, tok).(map[string]interface{})
	for _, k := range []string{"whole", "bearer", "cookie", "message", "jwtish", "sessionToken", "id_token", "apiKey", "refreshTokens", "tokens"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s kept: %v", k, v)
		}
	}
	if list := got["list"].([]interface{}); len(list) != 1 || list[0] != "fine" {
		t.Errorf("list: %v", list)
	}
	if got["name"] != "Zoë" || got["count"] != 3 {
		t.Errorf("plain fields lost: %v", got)
	}
}
