package authlayer

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/jwt"
)

// jwtFlowSecret is a jwt.secret long enough for HS256.
const jwtFlowSecret = "0123456789abcdef0123456789abcdef"

// TestJWTOptionsCarryEveryOption: every jwt.* option of JWTConfig reaches
// internal/jwt under its own name (a new option that jwtOptions forgets
// fails here), with the longest token a cookie holds.
func TestJWTOptionsCarryEveryOption(t *testing.T) {
	var c JWTConfig
	cv := reflect.ValueOf(&c).Elem()
	for i := 0; i < cv.NumField(); i++ {
		f := cv.Field(i)
		name := cv.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString("value of " + name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"value of " + name}))
		}
	}
	o := jwtOptions(c)
	ov := reflect.ValueOf(o)
	for i := 0; i < cv.NumField(); i++ {
		name := cv.Type().Field(i).Name
		if name == "Unknown" {
			continue
		}
		got := ov.FieldByName(name)
		if !got.IsValid() {
			t.Errorf("jwt.Options has no field %s", name)
			continue
		}
		if !reflect.DeepEqual(got.Interface(), cv.Field(i).Interface()) {
			t.Errorf("jwt.Options.%s = %v, want %v", name, got.Interface(), cv.Field(i).Interface())
		}
	}
	if o.MaxTokenBytes != maxCookieBytes {
		t.Errorf("MaxTokenBytes %d, want %d", o.MaxTokenBytes, maxCookieBytes)
	}
}

// TestJWTCompiledWithTheRest: jwt.enabled false leaves no settings; the
// defaults of CreateConfig compile (the claim paths, jwt.mode local, the
// leeway and intervals as documented); a bad jwt.* option and the checks
// against other groups are named.
func TestJWTCompiledWithTheRest(t *testing.T) {
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	c.JWT.Secret = jwtFlowSecret
	s, err := compileSettings(c)
	if err != nil || s.jwt != nil {
		t.Fatalf("jwt.enabled false: settings %v, err %v; want none", s.jwt, err)
	}
	c.JWT.Enabled = true
	on, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	j := on.jwt
	if j.Mode != jwt.ModeLocal || j.Leeway != 30*time.Second || j.Revalidate != time.Minute || j.JWKSURL != "" {
		t.Errorf("defaults: mode %d, leeway %s, revalidate %s, JWKS %q", j.Mode, j.Leeway, j.Revalidate, j.JWKSURL)
	}
	if len(j.User) != 0 || strings.Join(j.UserID, ".") != "sub" || strings.Join(j.TokenType, ".") != "type" || strings.Join(j.Roles, ".") != "roles" {
		t.Errorf("claim paths: user %v, id %v, type %v, roles %v", j.User, j.UserID, j.TokenType, j.Roles)
	}

	for _, tc := range []struct {
		desc   string
		mutate func(*Config)
		option string
	}{
		{"bad mode", func(c *Config) { c.JWT.Mode = "trust-me" }, "jwt.mode"},
		{"no type claim with guests", func(c *Config) {
			c.JWT.TokenTypeClaim = ""
			c.Guest = GuestConfig{Enabled: true, Username: "g", Password: "p"}
		}, "jwt.tokenTypeClaim"},
		{"no type claim, no allowed types", func(c *Config) { c.JWT.TokenTypeClaim = "" }, "routes.allowedTokenTypes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := CreateConfig()
			c.Backend.URL = "http://127.0.0.1:1"
			c.JWT.Enabled, c.JWT.Secret = true, jwtFlowSecret
			tc.mutate(c)
			if _, err := compileSettings(c); err == nil || !strings.Contains(err.Error(), "authlayer: "+tc.option+": ") {
				t.Fatalf("got %v, want an error naming %s", err, tc.option)
			}
		})
	}
	c = CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	c.JWT.Enabled, c.JWT.Secret, c.JWT.TokenTypeClaim = true, jwtFlowSecret, ""
	c.Routes.AllowedTokenTypes = []string{"user"}
	if typeless, err := compileSettings(c); err != nil || len(typeless.jwt.TokenType) != 0 {
		t.Errorf("no type claim with routes.allowedTokenTypes: %v", err)
	}
}

// TestClaimsIdentityFlatAgreesWithPaths: the default claim paths' short
// reading (jwt.Settings.Flat: one map index per claim) builds exactly the
// identity the general path reading builds, for claims of every shape.
func TestClaimsIdentityFlatAgreesWithPaths(t *testing.T) {
	compile := func(roles string) *jwt.Settings {
		c := CreateConfig()
		c.JWT.Enabled, c.JWT.Secret, c.JWT.RolesClaim = true, jwtFlowSecret, roles
		j, err := jwt.Compile(jwtOptions(c.JWT))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	for _, roles := range []string{"", "roles"} {
		flat, paths := compile(roles), compile(roles)
		if !flat.Flat {
			t.Fatalf("rolesClaim %q: the default paths are not read flat", roles)
		}
		paths.Flat = false
		for _, claims := range []string{
			`{"sub":"42","type":"user","roles":["admin","",7,"ops"],"exp":2000000000}`,
			`{"sub":42,"type":true,"roles":"admin","exp":2000000000}`,
			`{"sub":null,"roles":null,"exp":2000000000}`,
			`{"sub":"a\nb","type":"gu\u0000est","roles":[],"exp":2000000000}`,
			`{"sub":{"id":1},"type":["user"],"exp":2000000000,"":"empty name"}`,
			`{"exp":2000000000}`,
		} {
			doc, _ := jsonpath.Decode([]byte(claims)).(map[string]interface{})
			if doc == nil {
				t.Fatalf("%s does not decode", claims)
			}
			check := jwt.Result{Verdict: jwt.Good, Claims: doc, Payload: []byte(claims), Exp: 2000000000}
			got, want := claimsIdentity(flat, check, "tok"), claimsIdentity(paths, check, "tok")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rolesClaim %q, claims %s: flat reading %+v, path reading %+v", roles, claims, got, want)
			}
		}
	}
}
