package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"strconv"
	"strings"
)

// Route rules. A pattern "/x" matches /x and everything below it; "*"
// matches one segment; "**" any number (at most one "**" per pattern, so
// matching stays linear in the path's length). When several rules match,
// the most specific wins (more literal segments, then more "*"); on a tie
// the stricter kind wins.
//
// Strict rules (protected, roles, api) match case-insensitively and
// permissive ones (public, excluded, authOnly) exactly, so no spelling of a
// protected path on a case-insensitive app falls to a weaker rule.

// routeKind orders rules from the most permissive to the strictest.
type routeKind int

const (
	kindNone      routeKind = iota // no rule: public unless protectedByDefault
	kindExcluded                   // bypass authlayer
	kindPublic                     // anyone
	kindAuthOnly                   // login pages: logged-in users are sent away
	kindProtected                  // a logged-in user
	kindRole                       // a logged-in user with one of roles
)

type routeRule struct {
	pattern  string
	segments []string
	kind     routeKind
	roles    []string
	fold     bool // match the lower-cased path
	literals int
	stars    int
}

// routeMatch is the decision for one path.
type routeMatch struct {
	kind      routeKind
	roles     []string
	api       bool   // answer with JSON, never redirect
	needsUser bool   // protected or role rule
	rejected  bool   // ambiguous spelling: answer 400 (see canonical.go)
	path      string // the canonical path decided on (set by the memo)
	gate      routeGate
	endpoint  endpointKind // one of authlayer's own endpoints (endpoints.go)
	locale    string       // the locale prefix of the path (i18n.go); "" for none
}

// routeTable indexes rules by their first segment, so a request looks at
// the few rules that can match instead of all of them.
type routeTable struct {
	exact              map[string][]*routeRule // by first segment, case-sensitive rules
	folded             map[string][]*routeRule // by lower-cased first segment
	wild               []*routeRule            // first segment is a wildcard, or the rule is "/"
	api                []*routeRule
	protectedByDefault bool
	i18n               *i18nSettings // set by compileI18n: rules decide without the locale prefix
}

func newRouteTable(r RoutesConfig) (*routeTable, error) {
	t := &routeTable{
		exact: map[string][]*routeRule{}, folded: map[string][]*routeRule{},
		protectedByDefault: r.ProtectedByDefault,
	}
	lists := []struct {
		option   string
		patterns []string
		kind     routeKind
	}{
		{"routes.excluded", r.Excluded, kindExcluded},
		{"routes.public", r.Public, kindPublic},
		{"routes.authOnly", r.AuthOnly, kindAuthOnly},
		{"routes.protected", r.Protected, kindProtected},
	}
	for _, l := range lists {
		for _, p := range l.patterns {
			rule, err := compileRoute(l.option, p, l.kind, nil)
			if err != nil {
				return nil, err
			}
			t.add(rule)
		}
	}
	for i, rr := range r.Roles {
		option := "routes.roles[" + strconv.Itoa(i) + "]"
		roles := opts.TrimAll(rr.Roles)
		if len(roles) == 0 {
			return nil, opts.Error(option+".roles", "must list at least one role")
		}
		rule, err := compileRoute(option+".path", rr.Path, kindRole, roles)
		if err != nil {
			return nil, err
		}
		t.add(rule)
	}
	for _, p := range r.API {
		rule, err := compileRoute("routes.api", p, kindNone, nil)
		if err != nil {
			return nil, err
		}
		t.api = append(t.api, rule)
	}
	return t, nil
}

func compileRoute(option, pattern string, kind routeKind, roles []string) (*routeRule, error) {
	pattern = strings.TrimSpace(pattern)
	if !strings.HasPrefix(pattern, "/") {
		return nil, opts.Error(option, "pattern %q must start with /", pattern)
	}
	rule := &routeRule{pattern: pattern, kind: kind, roles: roles, fold: kind == kindProtected || kind == kindRole || kind == kindNone}
	body := strings.TrimSuffix(strings.TrimPrefix(pattern, "/"), "/")
	if body == "" {
		return rule, nil // "/" matches everything
	}
	if rule.fold {
		body = strings.ToLower(body)
	}
	doubles := 0
	for _, seg := range strings.Split(body, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return nil, opts.Error(option, "pattern %q has an empty or dot segment", pattern)
		case seg == "**":
			doubles++
		case seg == "*":
			rule.stars++
		case strings.ContainsAny(seg, "*?#%\\"):
			return nil, opts.Error(option, "pattern %q: a segment is either literal, * or **", pattern)
		default:
			rule.literals++
		}
		rule.segments = append(rule.segments, seg)
	}
	if doubles > 1 {
		return nil, opts.Error(option, "pattern %q has more than one **", pattern)
	}
	return rule, nil
}

func (t *routeTable) add(rule *routeRule) {
	if len(rule.segments) == 0 || rule.segments[0] == "*" || rule.segments[0] == "**" {
		t.wild = append(t.wild, rule)
		return
	}
	if rule.fold {
		t.folded[rule.segments[0]] = append(t.folded[rule.segments[0]], rule)
		return
	}
	t.exact[rule.segments[0]] = append(t.exact[rule.segments[0]], rule)
}

// matchRoute decides the rule for a canonical path (see canonical.go);
// with i18n on, for the path without its locale prefix (matchLocalized).
func matchRoute(t *routeTable, path string) routeMatch {
	if t.i18n != nil {
		return matchLocalized(t, path)
	}
	return matchPlain(t, path)
}

// matchPlain is matchRoute without i18n.
func matchPlain(t *routeTable, path string) routeMatch {
	m := matchRules(t, path)
	if m.kind == kindNone && t.protectedByDefault {
		m.kind = kindProtected
		m.needsUser = true
	}
	return m
}

// matchRules is the decision of the rules alone: kindNone where no rule
// matches, whatever routes.protectedByDefault says.
func matchRules(t *routeTable, path string) routeMatch {
	segs := splitSegments(path)
	lower := splitSegments(strings.ToLower(path))
	var best *routeRule
	if len(segs) > 0 {
		best = pickRule(best, t.exact[segs[0]], segs, lower)
		best = pickRule(best, t.folded[lower[0]], segs, lower)
	}
	best = pickRule(best, t.wild, segs, lower)
	m := routeMatch{kind: kindNone}
	if best != nil {
		m.kind, m.roles = best.kind, best.roles
	}
	m.api = pickRule(nil, t.api, segs, lower) != nil
	m.needsUser = m.kind == kindProtected || m.kind == kindRole
	return m
}

// stricterMatch combines the decisions for two readings of one path into
// one at least as strict as each: the stricter kind, where excluded (which
// skips authlayer altogether) is the weakest; for two role rules, the
// roles both accept (a user needs a role each reading accepts; with none
// in common nobody gets in); API when either is API. The path is a's.
func stricterMatch(a, b routeMatch) routeMatch {
	if b.kind == kindRole && a.kind == kindRole {
		a.roles = commonRoles(a.roles, b.roles)
	} else if strictness(b.kind) > strictness(a.kind) {
		a.kind, a.roles = b.kind, b.roles
	}
	a.api = a.api || b.api
	a.needsUser = a.needsUser || b.needsUser
	return a
}

// strictness orders kinds for stricterMatch: as routeKind, except that
// excluded is weaker than no rule.
func strictness(k routeKind) int {
	if k == kindExcluded {
		return -1
	}
	return int(k)
}

// commonRoles returns the roles in both lists.
func commonRoles(a, b []string) []string {
	out := []string{}
	for _, r := range a {
		for _, s := range b {
			if r == s {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// pickRule returns the better of best and the matching rules in candidates.
func pickRule(best *routeRule, candidates []*routeRule, segs, lower []string) *routeRule {
	for _, r := range candidates {
		path := segs
		if r.fold {
			path = lower
		}
		if matchSegments(r.segments, path) && better(r, best) {
			best = r
		}
	}
	return best
}

func better(r, best *routeRule) bool {
	if best == nil {
		return true
	}
	if r.literals != best.literals {
		return r.literals > best.literals
	}
	if r.stars != best.stars {
		return r.stars > best.stars
	}
	return r.kind > best.kind
}

// matchSegments reports whether path is at or below the pattern.
func matchSegments(pattern, path []string) bool {
	for i, p := range pattern {
		if p == "**" {
			return matchTail(pattern[i+1:], path[i:])
		}
		if i >= len(path) || (p != "*" && p != path[i]) {
			return false
		}
	}
	return true
}

// matchTail matches the pattern after a "**" at any depth.
func matchTail(rest, path []string) bool {
	if len(rest) == 0 {
		return true
	}
	for j := 0; j+len(rest) <= len(path); j++ {
		if matchSegments(rest, path[j:]) {
			return true
		}
	}
	return false
}

// splitSegments turns "/a/b" into ["a","b"] and "/" into none.
func splitSegments(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}
