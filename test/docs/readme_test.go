// Package docs checks that the README's option tables and the plugin's
// Config agree: every option documented, with its type and its default as
// CreateConfig sets it, and no documented option that does not exist. The
// tables cannot drift from the code.
package docs

import (
	"bufio"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	authlayer "github.com/authlayer/authlayer"
)

// row is one line of an option table.
type row struct {
	typ, def string
}

// readmeTables reads every "### `group`" table of the README's Options
// section: group → option → row.
func readmeTables(t *testing.T) map[string]map[string]row {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tables := map[string]map[string]row{}
	group := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			group = ""
		case strings.HasPrefix(line, "### `") && strings.HasSuffix(line, "`"):
			group = strings.Trim(strings.TrimPrefix(line, "### "), "`")
			tables[group] = map[string]row{}
		case group != "" && strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			if len(cells) < 4 {
				t.Fatalf("README table %s: malformed row %q", group, line)
			}
			name := strings.Trim(strings.TrimSpace(cells[0]), "`")
			tables[group][name] = row{typ: strings.TrimSpace(cells[1]), def: strings.TrimSpace(cells[2])}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// optionName is the name Traefik's decoder matches: the json tag's name
// (case-insensitively, but the README spells it as the tag does).
func optionName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("json"), ",")[0]
}

// undocumentedDefaults are README default texts standing for an empty
// value with a meaning of its own.
var undocumentedDefaults = map[string]bool{"(required)": true, "all": true, "random per process": true}

func TestReadmeOptionTablesMatchConfig(t *testing.T) {
	tables := readmeTables(t)
	cfg := reflect.ValueOf(authlayer.CreateConfig()).Elem()
	seenGroups := map[string]bool{}
	for i := 0; i < cfg.NumField(); i++ {
		gf := cfg.Type().Field(i)
		group := optionName(gf)
		if group == "-" {
			continue // Unknown: the decoder's unused keys, not an option
		}
		seenGroups[group] = true
		table, ok := tables[group]
		if !ok {
			t.Errorf("README has no table for option group %q", group)
			continue
		}
		seen := map[string]bool{}
		checkTableRows(t, group, "", cfg.Field(i), table, seen)
		for name := range table {
			if !seen[name] {
				t.Errorf("README table %s documents %q, which Config does not have", group, name)
			}
		}
	}
	for group := range tables {
		if !seenGroups[group] {
			t.Errorf("README documents option group %q, which Config does not have", group)
		}
	}
}

// checkRow compares one documented option with its field and default.
func checkRow(t *testing.T, option string, v reflect.Value, r row) {
	t.Helper()
	def := strings.Trim(r.def, "`")
	switch v.Kind() {
	case reflect.String:
		if r.typ != "string" && r.typ != "duration" {
			t.Errorf("%s: README type %q, Config has a string (write string or duration)", option, r.typ)
		}
		got := v.String()
		if r.typ == "duration" && got != "" {
			if _, err := time.ParseDuration(got); err != nil {
				t.Errorf("%s: documented as a duration, default %q is not one", option, got)
			}
		}
		if got == "" {
			if def != `""` && !undocumentedDefaults[r.def] {
				t.Errorf("%s: README default %s, CreateConfig sets \"\"", option, r.def)
			}
		} else if def != got {
			t.Errorf("%s: README default %s, CreateConfig sets %q", option, r.def, got)
		}
	case reflect.Int:
		if r.typ != "int" {
			t.Errorf("%s: README type %q, Config has an int", option, r.typ)
		}
		if def != strconv.Itoa(int(v.Int())) {
			t.Errorf("%s: README default %s, CreateConfig sets %d", option, r.def, v.Int())
		}
	case reflect.Bool:
		if r.typ != "bool" {
			t.Errorf("%s: README type %q, Config has a bool", option, r.typ)
		}
		if def != strconv.FormatBool(v.Bool()) {
			t.Errorf("%s: README default %s, CreateConfig sets %v", option, r.def, v.Bool())
		}
	case reflect.Slice:
		checkSliceRow(t, option, v, r, def)
	case reflect.Map:
		if r.typ != "map" {
			t.Errorf("%s: README type %q, Config has a map (write map)", option, r.typ)
		}
		if v.Len() != 0 || def != "{}" {
			t.Errorf("%s: README default %s, CreateConfig sets %d entries", option, r.def, v.Len())
		}
	default:
		t.Errorf("%s: Config field of kind %s has no README convention", option, v.Kind())
	}
}

func checkSliceRow(t *testing.T, option string, v reflect.Value, r row, def string) {
	t.Helper()
	if v.Type().Elem().Kind() == reflect.Struct {
		if !strings.HasPrefix(r.typ, "[]{") {
			t.Errorf("%s: README type %q, Config has a list of rules", option, r.typ)
		}
		if v.Len() != 0 || def != "[]" {
			t.Errorf("%s: README default %s, CreateConfig sets %d rules", option, r.def, v.Len())
		}
		return
	}
	if r.typ != "[]string" {
		t.Errorf("%s: README type %q, Config has a []string", option, r.typ)
	}
	items := make([]string, v.Len())
	for i := range items {
		items[i] = v.Index(i).String()
	}
	want := strings.Join(items, ",")
	if len(items) == 0 {
		if def != "[]" && !undocumentedDefaults[r.def] {
			t.Errorf("%s: README default %s, CreateConfig sets an empty list", option, r.def)
		}
		return
	}
	if strings.ReplaceAll(def, ", ", ",") != want {
		t.Errorf("%s: README default %s, CreateConfig sets %q", option, r.def, want)
	}
}

// checkTableRows checks one option struct's fields against a group's
// table; the options of a struct it holds are rows with dotted names
// (cluster's "redis.endpoints", "redis.tls.ca").
func checkTableRows(t *testing.T, group, prefix string, gv reflect.Value, table map[string]row, seen map[string]bool) {
	t.Helper()
	for j := 0; j < gv.NumField(); j++ {
		f := gv.Type().Field(j)
		name := optionName(f)
		if name == "-" {
			continue
		}
		name = prefix + name
		if f.Type.Kind() == reflect.Struct {
			checkTableRows(t, group, name+".", gv.Field(j), table, seen)
			continue
		}
		r, rowName, ok := findRow(table, name)
		seen[rowName] = true
		if !ok {
			t.Errorf("README table %s: option %q is not documented", group, name)
			continue
		}
		checkRow(t, group+"."+name, gv.Field(j), r)
	}
}

// findRow finds name's row: its own, or one whose dotted name holds a
// <placeholder> segment standing for any name ("requests.<call>.method"
// documents requests.validate.method, requests.refresh.method, ...).
func findRow(table map[string]row, name string) (row, string, bool) {
	if r, ok := table[name]; ok {
		return r, name, true
	}
	parts := strings.Split(name, ".")
	for rowName, r := range table {
		pattern := strings.Split(rowName, ".")
		if len(pattern) != len(parts) {
			continue
		}
		match := true
		for i := range parts {
			if pattern[i] != parts[i] && !strings.HasPrefix(pattern[i], "<") {
				match = false
				break
			}
		}
		if match {
			return r, rowName, true
		}
	}
	return row{}, name, false
}
