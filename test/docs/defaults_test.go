package docs

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	authlayer "github.com/authlayer/authlayer"
)

// defaultInComment finds "Default <value>" in a field's comment: a quoted
// string, a JSON list of strings, a number or a boolean.
var defaultInComment = regexp.MustCompile(`Default (\[[^\]]*\]|"[^"]*"|-?[0-9]+|true|false)`)

// fieldComments reads config.go: option group type → field → the field's
// doc comment as one line.
func fieldComments(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		fields := map[string]string{}
		for _, fl := range st.Fields.List {
			if fl.Doc == nil {
				continue
			}
			text := strings.Join(strings.Fields(fl.Doc.Text()), " ")
			for _, name := range fl.Names {
				fields[name.Name] = text
			}
		}
		out[ts.Name.Name] = fields
		return false
	})
	return out
}

// goValue renders v the way config.go's comments write a default.
func goValue(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Slice:
		raw, _ := json.Marshal(v.Interface())
		if v.Len() == 0 {
			return "[]"
		}
		return string(raw)
	default:
		return strings.TrimSpace(strings.Trim(strings.TrimSpace(jsonOf(v)), `"`))
	}
}

func jsonOf(v reflect.Value) string {
	raw, _ := json.Marshal(v.Interface())
	return string(raw)
}

// TestDefaultsInCodeCommentsMatchCreateConfig: every "Default …" written
// in an option's comment in config.go is the value CreateConfig sets, and
// every option with a non-zero default says so in its comment. Defaults
// are written in code once (each group's …Defaults function); the
// comments and the README's tables are checked against it.
func TestDefaultsInCodeCommentsMatchCreateConfig(t *testing.T) {
	comments := fieldComments(t)
	cfg := reflect.ValueOf(authlayer.CreateConfig()).Elem()
	checked := 0
	for i := 0; i < cfg.NumField(); i++ {
		group := cfg.Type().Field(i)
		if group.Type.Kind() != reflect.Struct {
			continue
		}
		checked += checkCommentedDefaults(t, comments, group.Name, cfg.Field(i))
	}
	if checked < 40 {
		t.Fatalf("only %d documented defaults found in config.go: the comment format changed?", checked)
	}
}

// checkCommentedDefaults checks one option struct's fields against their
// comments, and the structs it holds (cluster.redis, cluster.redis.tls)
// the same way; it returns how many defaults it checked.
func checkCommentedDefaults(t *testing.T, comments map[string]map[string]string, prefix string, gv reflect.Value) int {
	t.Helper()
	docs, ok := comments[gv.Type().Name()]
	if !ok {
		t.Errorf("config.go: no struct %s", gv.Type().Name())
		return 0
	}
	checked := 0
	for j := 0; j < gv.NumField(); j++ {
		f := gv.Type().Field(j)
		if f.Tag.Get("json") == "-" {
			continue
		}
		where := prefix + "." + f.Name
		if f.Type.Kind() == reflect.Struct {
			checked += checkCommentedDefaults(t, comments, where, gv.Field(j))
			continue
		}
		got := goValue(gv.Field(j))
		m := defaultInComment.FindStringSubmatch(docs[f.Name])
		if m == nil {
			if !gv.Field(j).IsZero() {
				t.Errorf("%s: CreateConfig sets %s, but its comment in config.go names no default", where, got)
			}
			continue
		}
		checked++
		emptyList := m[1] == "[]" && got == "null"
		if want := m[1]; want != got && !emptyList {
			t.Errorf("%s: the comment says Default %s, CreateConfig sets %s", where, want, got)
		}
	}
	return checked
}
