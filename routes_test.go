package authlayer

import (
	"strings"
	"testing"
)

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
		got := matchRoute(table, canonicalPath(tc.path))
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
	if got := matchRoute(table, "/x/y").kind; got != kindProtected {
		t.Errorf("tie between public and protected: got kind %d, want protected", int(got))
	}
}

func TestProtectedByDefault(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{ProtectedByDefault: true, Public: []string{"/", "/about"}, AuthOnly: []string{"/login"}})
	if err != nil {
		t.Fatal(err)
	}
	// "/" as a rule matches everything, as the least specific rule.
	if got := matchRoute(table, "/anything").kind; got != kindPublic {
		t.Errorf("with public / every path matches it: got %d", int(got))
	}
	table, err = newRouteTable(RoutesConfig{ProtectedByDefault: true, Public: []string{"/about"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := matchRoute(table, "/anything").kind; got != kindProtected {
		t.Errorf("unmatched path under protectedByDefault: got %d, want protected", int(got))
	}
	if got := matchRoute(table, "/about/team").kind; got != kindPublic {
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

func TestStricterMatch(t *testing.T) {
	role := func(roles ...string) routeMatch { return routeMatch{kind: kindRole, roles: roles, needsUser: true} }
	kind := func(k routeKind) routeMatch {
		return routeMatch{kind: k, needsUser: k == kindProtected || k == kindRole}
	}
	tests := []struct {
		desc string
		a, b routeMatch
		want routeMatch
	}{
		{"excluded loses to no rule", kind(kindExcluded), kind(kindNone), kind(kindNone)},
		{"no rule loses to excluded's opposite", kind(kindNone), kind(kindExcluded), kind(kindNone)},
		{"excluded only when both are", kind(kindExcluded), kind(kindExcluded), kind(kindExcluded)},
		{"protected beats excluded", kind(kindExcluded), kind(kindProtected), kind(kindProtected)},
		{"public beats no rule", kind(kindNone), kind(kindPublic), kind(kindPublic)},
		{"auth-only beats public", kind(kindPublic), kind(kindAuthOnly), kind(kindAuthOnly)},
		{"role beats protected", kind(kindProtected), role("admin"), role("admin")},
		{"protected keeps role", role("admin"), kind(kindProtected), role("admin")},
		{"two role rules need a role both accept", role("admin", "root"), role("ops", "root"), role("root")},
		{"no common role: nobody", role("admin"), role("ops"), role()},
		{"api from either", routeMatch{kind: kindPublic, api: true}, kind(kindNone), routeMatch{kind: kindPublic, api: true}},
	}
	for _, tc := range tests {
		tc.a.path = "/literal"
		got := stricterMatch(tc.a, tc.b)
		if got.kind != tc.want.kind || got.api != tc.want.api || got.needsUser != tc.want.needsUser ||
			strings.Join(got.roles, ",") != strings.Join(tc.want.roles, ",") || got.path != "/literal" {
			t.Errorf("%s: got %+v, want %+v", tc.desc, got, tc.want)
		}
		if got.kind == kindRole && got.roles == nil {
			t.Errorf("%s: nil roles", tc.desc)
		}
	}
}

// TestRouteReadings: a path holding ";" is decided as strictly as its
// strictest reading (literal, servlet, names only), and a dot segment with
// parameters is ambiguous.
func TestRouteReadings(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{
		Protected: []string{"/dashboard"},
		Public:    []string{"/public"},
		Excluded:  []string{"/static"},
		API:       []string{"/api"},
		Roles:     []RoleRule{{Path: "/admin", Roles: []string{"admin", "root"}}, {Path: "/ops", Roles: []string{"ops", "root"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		kind      routeKind
		roles     string
		api       bool
		ambiguous bool
	}{
		{"/public;x=1", kindPublic, "", false, false},
		{"/static/app.js;v=2", kindExcluded, "", false, false},
		{"/static;v=2/app.js", kindNone, "", false, false},             // Go: not /static
		{"/dashboard/;x/../static/a", kindProtected, "", false, false}, // Java: /static/a
		{"/static/;x/../dashboard", kindProtected, "", false, false},   // Go: /static/dashboard
		{"/admin;x=1", kindRole, "admin,root", false, false},
		{"/admin/;p/../ops", kindRole, "root", false, false}, // Go: /admin/ops; Java: /ops
		{"/api;v=1/x", kindNone, "", true, false},
		{"/;x/dashboard;y", kindProtected, "", false, false},
		{"/dashboard/..;/", kindProtected, "", false, true},
		{"/dashboard/..;/static", kindProtected, "", false, true},
		{"/admin/..;/x", kindRole, "admin,root", false, true},
		{"/x/..;/admin", kindRole, "admin,root", false, true},
		{"/ops/..;/admin", kindRole, "root", false, true},
		{"/.;/public", kindProtected, "", false, true},
		{"/public/.;x=1/a", kindProtected, "", false, true},
		{"/public/...;/a", kindPublic, "", false, false}, // "..." is a name to everyone
	}
	for _, tc := range tests {
		for _, protect := range []bool{false, true} {
			r := decideRoute(newRouteMemo(table, protect, nil), tc.path, "")
			if r.rejected != (tc.ambiguous && !protect) {
				t.Errorf("%s (protect %v): rejected %v, want %v", tc.path, protect, r.rejected, tc.ambiguous && !protect)
				continue
			}
			if !protect && tc.ambiguous {
				continue
			}
			if r.kind != tc.kind || strings.Join(r.roles, ",") != tc.roles || r.api != tc.api {
				t.Errorf("%s (protect %v): kind %d roles %v api %v, want kind %d roles %s api %v",
					tc.path, protect, int(r.kind), r.roles, r.api, int(tc.kind), tc.roles, tc.api)
			}
		}
	}
}
