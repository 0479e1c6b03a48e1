package authlayer

import "testing"

func TestIsLocalPath(t *testing.T) {
	good := []string{"/", "/dashboard", "/a/b?x=1&y=2", "/a#frag", "/a%2Fb"}
	bad := []string{"", "dashboard", "//evil.com", "/\\evil.com", "\\\\evil.com", "/\t/evil.com",
		"/\n/evil.com", "https://evil.com", "javascript:alert(1)", "/a\\b", " /a", "/a b", "http:/evil.com"}
	for _, v := range good {
		if !isLocalPath(v) {
			t.Errorf("isLocalPath(%q) = false, want true", v)
		}
	}
	for _, v := range bad {
		if isLocalPath(v) {
			t.Errorf("isLocalPath(%q) = true, want false", v)
		}
	}
}
