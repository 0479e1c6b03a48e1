package authlayer

import "testing"

func TestRouteMatch(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{
		Protected: []string{"/dashboard", "/api/me", "/users/*/settings"},
		Public:    []string{"/dashboard/help", "/api/public"},
		AuthOnly:  []string{"/login"},
		Excluded:  []string{"/static", "/**/favicon.ico"},
		API:       []string{"/api"},
		Roles:     []RoleRule{{Path: "/admin", Roles: []string{"admin"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		kind routeKind
		api  bool
	}{
		{"/", kindNone, false},
		{"/dashboard", kindProtected, false},
		{"/dashboard/x/y", kindProtected, false},
		{"/DashBoard", kindProtected, false},
		{"/dashboardx", kindNone, false},
		{"/dashboard/help", kindPublic, false},
		{"/dashboard/help/more", kindPublic, false},
		{"/api/me", kindProtected, true},
		{"/API/me", kindProtected, true},
		{"/api/public/hello", kindPublic, true},
		{"/api/other", kindNone, true},
		{"/users/42/settings", kindProtected, false},
		{"/users/42/profile", kindNone, false},
		{"/login", kindAuthOnly, false},
		{"/static/app.js", kindExcluded, false},
		{"/Static/app.js", kindNone, false},
		{"/a/b/favicon.ico", kindExcluded, false},
		{"/favicon.ico", kindExcluded, false},
		{"/admin", kindRole, false},
		{"/admin/users", kindRole, false},
	}
	for _, tc := range tests {
		got := table.match(canonicalPath(tc.path))
		if got.kind != tc.kind || got.api != tc.api {
			t.Errorf("match(%q) = kind %d api %v, want kind %d api %v", tc.path, int(got.kind), got.api, int(tc.kind), tc.api)
		}
	}
}

func TestRouteTieGoesToStricterRule(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{Protected: []string{"/x"}, Public: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := table.match("/x/y").kind; got != kindProtected {
		t.Errorf("tie between public and protected: got kind %d, want protected", int(got))
	}
}

func TestProtectedByDefault(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{ProtectedByDefault: true, Public: []string{"/", "/about"}, AuthOnly: []string{"/login"}})
	if err != nil {
		t.Fatal(err)
	}
	// "/" as a rule matches everything, as the least specific rule.
	if got := table.match("/anything").kind; got != kindPublic {
		t.Errorf("with public / every path matches it: got %d", int(got))
	}
	table, err = newRouteTable(RoutesConfig{ProtectedByDefault: true, Public: []string{"/about"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := table.match("/anything").kind; got != kindProtected {
		t.Errorf("unmatched path under protectedByDefault: got %d, want protected", int(got))
	}
	if got := table.match("/about/team").kind; got != kindPublic {
		t.Errorf("public path under protectedByDefault: got %d, want public", int(got))
	}
}

func TestBadPatterns(t *testing.T) {
	for _, p := range []string{"noslash", "/a/**x", "/a//b", "/a/../b", "/**/x/**", "/a?b", "/a%2fb"} {
		if _, err := newRouteTable(RoutesConfig{Protected: []string{p}}); err == nil {
			t.Errorf("pattern %q accepted, want an error", p)
		}
	}
}
