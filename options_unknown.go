package authlayer

import (
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Unknown options.
//
// Traefik decodes a middleware's options with mapstructure, which drops
// keys that match no field: a misspelled "routes.protectd" would leave
// every path public without a word. Each option struct therefore ends with
// a field tagged `mapstructure:",remain"` (Unknown), where the decoder
// puts every key it did not use, and New refuses a configuration in which
// any of them is not empty, naming the full dotted key and, when one is
// close, the option that was probably meant.
//
// The decoder matches keys to field names case-insensitively and never
// matches a key to the remain field itself, so a key written "unknown" is
// unknown too. A key given twice in different cases ("url" and "URL") is
// matched once; the other lands here and is refused as a duplicate (which
// one the decoder picks is not defined). Under Yaegi an unexported field
// would be settable by a key "x<name>"; no option struct has one
// (TestOptionStructsHaveOnlyOptionFields).

// maxUnknownListed bounds how many unknown keys one error names.
const maxUnknownListed = 5

// unknownOptionCount is the number of keys the decoder did not place. It is
// all New pays when there are none.
func unknownOptionCount(c *Config) int {
	n := len(c.Unknown) + len(c.Backend.Unknown) + len(c.Responses.Unknown) + len(c.Cookies.Unknown) +
		len(c.Guest.Unknown) + len(c.Cache.Unknown) + len(c.Refresh.Unknown) + len(c.Routes.Unknown) +
		len(c.Headers.Unknown) + len(c.CSRF.Unknown) + len(c.RateLimit.Unknown) + len(c.Audit.Unknown) +
		len(c.JWT.Unknown) + len(c.Endpoints.Unknown) + len(c.ErrorPages.Unknown) + len(c.I18n.Unknown) +
		len(c.MethodOverride.Unknown) + len(c.Cluster.Unknown) + len(c.Backend.Requests.Unknown) +
		len(c.Backend.Requests.Validate.Unknown) + len(c.Backend.Requests.Refresh.Unknown) + len(c.Backend.Requests.Guest.Unknown) +
		len(c.Backend.Requests.Login.Unknown) + len(c.Backend.Requests.Logout.Unknown) + len(c.Cluster.Redis.Unknown) + len(c.Cluster.Redis.TLS.Unknown)
	for i := range c.Routes.Roles {
		n += len(c.Routes.Roles[i].Unknown)
	}
	return n
}

// checkUnknownOptions refuses a configuration holding keys that are no
// option: `authlayer: unknown option "routes.protectd" (did you mean
// "routes.protected"?)`.
func checkUnknownOptions(c *Config) error {
	if unknownOptionCount(c) == 0 {
		return nil
	}
	rootType := reflect.TypeOf(c).Elem()
	var found []string
	collectUnknown(reflect.ValueOf(c).Elem(), "", optionIndex(rootType), &found)
	if len(found) == 0 {
		// Cannot happen: the count saw a key the walk did not.
		return opts.Error("options", "unrecognised keys")
	}
	msg := strings.Join(firstN(found, maxUnknownListed), "; ")
	if len(found) > maxUnknownListed {
		msg += "; and " + strconv.Itoa(len(found)-maxUnknownListed) + " more"
	}
	return errors.New("authlayer: " + msg)
}

func firstN(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

// collectUnknown walks one option struct (and the structs it holds) and
// describes every key in their remain fields: a struct's own keys first,
// sorted, then its groups' in field order.
func collectUnknown(v reflect.Value, prefix string, index map[string][]string, out *[]string) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if fv := v.Field(i); isRemainField(t.Field(i)) {
			keys := fv.MapKeys()
			names := make([]string, 0, len(keys))
			for _, k := range keys {
				names = append(names, k.String())
			}
			sort.Strings(names)
			for _, k := range names {
				*out = append(*out, describeUnknown(t, prefix, k, fv.MapIndex(reflect.ValueOf(k)).Interface(), index)...)
			}
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		switch {
		case isRemainField(f): // done above
		case fv.Kind() == reflect.Struct:
			collectUnknown(fv, joinOption(prefix, jsonOptionName(f)), index, out)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				collectUnknown(fv.Index(j), joinOption(prefix, jsonOptionName(f))+"["+strconv.Itoa(j)+"]", index, out)
			}
		}
	}
}

// describeUnknown says what is wrong with key, found in the remain field
// of struct t at prefix: a second spelling of an option, or a key that is
// no option (each leaf of a nested value named: "cookie.secure").
func describeUnknown(t reflect.Type, prefix, key string, value interface{}, index map[string][]string) []string {
	names := optionNames(t)
	for _, n := range names {
		if strings.EqualFold(n, key) {
			return []string{"option " + strconv.Quote(joinOption(prefix, n)) + " is set twice (once as " + strconv.Quote(key) +
				"; option names ignore case): keep one"}
		}
	}
	guess := nearestOption(key, names)
	if guess != "" {
		guess = joinOption(prefix, guess)
	} else if others := index[normalizeOption(key)]; len(others) == 1 {
		guess = others[0] // an option of another group, such as backend.secure for cookies.secure
	}
	var out []string
	for _, rest := range leafPaths(value, 0) {
		line := "unknown option " + strconv.Quote(joinOption(prefix, key)+rest)
		if guess != "" {
			line += " (did you mean " + strconv.Quote(guess+rest) + "?)"
		}
		out = append(out, line)
	}
	return out
}

// leafPaths lists the dotted paths below value ("" for a value that is not
// an object): a misspelled group names each option it holds.
func leafPaths(value interface{}, depth int) []string {
	obj, ok := value.(map[string]interface{})
	if !ok || len(obj) == 0 || depth >= 4 {
		return []string{""}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		for _, rest := range leafPaths(obj[k], depth+1) {
			out = append(out, "."+k+rest)
		}
	}
	return out
}

func isRemainField(f reflect.StructField) bool {
	return strings.Contains(f.Tag.Get("mapstructure"), ",remain")
}

// jsonOptionName is a field's option name as the README spells it.
func jsonOptionName(f reflect.StructField) string {
	name := strings.Split(f.Tag.Get("json"), ",")[0]
	if name == "" {
		return f.Name
	}
	return name
}

// optionNames are the option names of struct t.
func optionNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); !isRemainField(f) {
			names = append(names, jsonOptionName(f))
		}
	}
	return names
}

// optionIndex maps every option's normalized name to its dotted names in
// all groups, to point at the right group for an option set in the wrong
// one.
func optionIndex(root reflect.Type) map[string][]string {
	index := map[string][]string{}
	for i := 0; i < root.NumField(); i++ {
		g := root.Field(i)
		if isRemainField(g) || g.Type.Kind() != reflect.Struct {
			continue
		}
		for _, n := range optionNames(g.Type) {
			k := normalizeOption(n)
			index[k] = append(index[k], jsonOptionName(g)+"."+n)
		}
	}
	return index
}

func joinOption(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// normalizeOption folds case and drops "_", "-" and spaces, so user_id,
// user-id and userID all read as userId.
func normalizeOption(s string) string {
	s = strings.ToLower(s)
	for _, sep := range []string{"_", "-", " "} {
		s = strings.ReplaceAll(s, sep, "")
	}
	return s
}

// nearestOption is the option name closest to key, or "" when none is
// close enough to be a likely typo.
func nearestOption(key string, names []string) string {
	k := normalizeOption(key)
	if k == "" || len(k) > 64 {
		return ""
	}
	best, bestDist := "", 0
	for _, n := range names {
		d := editDistance(k, normalizeOption(n))
		if best == "" || d < bestDist {
			best, bestDist = n, d
		}
	}
	limit := 1
	if len(k) > 4 {
		limit = 2
	}
	if len(k) > 9 {
		limit = 3
	}
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and
// transpositions of adjacent bytes turning a into b.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := prev[j] + 1
			if cur[j-1]+1 < v {
				v = cur[j-1] + 1
			}
			if prev[j-1]+cost < v {
				v = prev[j-1] + cost
			}
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] && prev2[j-2]+1 < v {
				v = prev2[j-2] + 1
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
