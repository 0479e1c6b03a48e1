package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/test/djangorun"
)

// The demo against a real Django REST framework + simplejwt backend
// (`make demo BACKEND=django`): the repository's test project
// (test/djangoapp, Debian's python3-django, python3-djangorestframework and
// python3-djangorestframework-simplejwt) run by Python on a free loopback
// port, and authlayer configured with backend.preset django-simplejwt.

// Environment variables read to find Django, as test/djangorun reads them.
const (
	// EnvDjangoPython names the Python interpreter (default
	// DebianPython: Debian's packages are not seen by another python3).
	EnvDjangoPython = "DJANGO_PYTHON"
	// EnvDjangoApp names the Django project's directory (default: the
	// repository's test/djangoapp, found by walking up).
	EnvDjangoApp = "AUTHLAYER_DJANGOAPP_DIR"
	// EnvRequireDjango set to 1 makes the demo's Django tests fail, not
	// skip, without Django.
	EnvRequireDjango = "AUTHLAYER_REQUIRE_DJANGO"
)

// DebianPython is the interpreter that sees Debian's Python packages.
const DebianPython = "/usr/bin/python3"

// DjangoAppDir is the Django project's place in the repository.
const DjangoAppDir = "test/djangoapp"

// DjangoPreset is the backend.preset that speaks simplejwt's protocol.
const DjangoPreset = "django-simplejwt"

// DjangoValidateCall is the request authlayer validates a token with under
// DjangoPreset (the app's dashboard says so).
const DjangoValidateCall = "POST /api/token/verify/"

// djangoPackages is what Debian calls the packages the project needs.
const djangoPackages = "python3-django, python3-djangorestframework and python3-djangorestframework-simplejwt"

// Bounds of a Django start and stop.
const (
	djangoCheckTimeout = 20 * time.Second // importing the packages once
	djangoStartTimeout = 30 * time.Second // migrate, users, listen (~0.6 s)
	djangoStopWait     = 3 * time.Second  // after stdin is closed, before SIGKILL
)

// DjangoUser is one account the project creates at start. Groups become
// the "roles" claim of the user's tokens (routes.roles reads it).
type DjangoUser struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Groups   []string `json:"groups"`
	Staff    bool     `json:"is_staff"`
}

// DemoDjangoUsers are the demo's accounts as Django users: alice/alice in
// the group "user" and admin/admin in the group "admin", the roles the
// demo backend gives them.
func DemoDjangoUsers() []DjangoUser {
	return []DjangoUser{
		{Username: "alice", Password: "alice", Groups: []string{"user"}},
		{Username: "admin", Password: "admin", Groups: []string{"admin"}, Staff: true},
	}
}

// FindDjangoPython returns the interpreter to run Django with: python,
// else $DJANGO_PYTHON, else DebianPython. It must be an executable file.
func FindDjangoPython(python string) (string, error) {
	if python == "" {
		python = os.Getenv(EnvDjangoPython)
	}
	if python == "" {
		python = DebianPython
	}
	//nolint:gosec // G703: the interpreter the developer chose
	if fi, err := os.Stat(python); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no Python interpreter at %s ($%s chooses another): install Debian's %s (apt-get install python3-django python3-djangorestframework python3-djangorestframework-simplejwt)",
			python, EnvDjangoPython, djangoPackages)
	}
	return python, nil
}

// DjangoVersion checks that python imports Django, Django REST framework
// and simplejwt, and returns Django's version.
func DjangoVersion(ctx context.Context, python string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, djangoCheckTimeout)
	defer cancel()
	//nolint:gosec // G204: the interpreter the developer chose
	cmd := exec.CommandContext(ctx, python, "-c", "import django, rest_framework, rest_framework_simplejwt; print(django.get_version())")
	cmd.Env = djangorun.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s cannot import django, rest_framework and rest_framework_simplejwt (%v: %s): install Debian's %s",
			python, err, lastLine(string(out)), djangoPackages)
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// FindDjangoApp returns the Django project's directory (the one holding
// serve.py): $AUTHLAYER_DJANGOAPP_DIR, else test/djangoapp under the
// first of each start directory and its parents that has one (the
// repository's root, from anywhere in the repository).
func FindDjangoApp(starts ...string) (string, error) {
	if dir := os.Getenv(EnvDjangoApp); dir != "" {
		if !isFile(filepath.Join(dir, "serve.py")) {
			return "", fmt.Errorf("$%s=%s: no serve.py there", EnvDjangoApp, dir)
		}
		return filepath.Abs(dir)
	}
	for _, start := range starts {
		dir, err := filepath.Abs(start)
		if err != nil {
			continue
		}
		for {
			candidate := filepath.Join(dir, filepath.FromSlash(DjangoAppDir))
			if isFile(filepath.Join(candidate, "serve.py")) {
				return candidate, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("no %s/serve.py in %s or any directory above: run from the repository, or set $%s",
		DjangoAppDir, strings.Join(starts, ", "), EnvDjangoApp)
}

func isFile(path string) bool {
	//nolint:gosec // G703: a path of the repository, or the one the developer chose
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// DjangoConfig configures StartDjango.
type DjangoConfig struct {
	// Python is the interpreter (FindDjangoPython's choice).
	Python string
	// App is the project's directory (FindDjangoApp's).
	App string
	// Dir holds the SQLite database and the ready file; required.
	Dir string
	// AccessTTL and RefreshTTL are simplejwt's token lifetimes (whole or
	// fractional seconds); 0 keeps simplejwt's (5 min, 1 day).
	AccessTTL, RefreshTTL time.Duration
	// SigningKey is the HS256 key (and Django's SECRET_KEY); required.
	SigningKey string
	// Users are created at start.
	Users []DjangoUser
	// Out gets the server's log (a line per request, never a body).
	Out io.Writer
}

// Django is a running Django backend.
type Django struct {
	// URL is its base URL, http://127.0.0.1:<port>.
	URL string

	mu     sync.Mutex // guards stdin
	cmd    *exec.Cmd
	stdin  *os.File
	exited chan struct{}
}

// StartDjango runs the project's serve.py on a free loopback port with
// refresh-token rotation and blacklisting after rotation on, and returns
// once it listens. It runs in a process group of its own (a Ctrl-C at the
// terminal reaches only the demo, which stops it) and exits when its
// standard input closes: by Stop, or when the demo dies.
func StartDjango(ctx context.Context, c DjangoConfig) (*Django, error) {
	if c.Dir == "" || c.SigningKey == "" {
		return nil, errors.New("django: a directory and a signing key are required")
	}
	//nolint:gosec // G117: the demo users' passwords go to the server in its environment, never to a log
	users, err := json.Marshal(c.Users)
	if err != nil {
		return nil, err
	}
	ready := filepath.Join(c.Dir, "ready.json")
	env := append(djangorun.Env(),
		"DJANGOAPP_DB="+filepath.Join(c.Dir, "db.sqlite3"),
		"DJANGOAPP_SECRET_KEY="+c.SigningKey,
		"DJANGOAPP_SIGNING_KEY="+c.SigningKey,
		"DJANGOAPP_ROTATE_REFRESH_TOKENS=1",
		"DJANGOAPP_BLACKLIST_AFTER_ROTATION=1",
		"DJANGOAPP_USERS="+string(users),
		"DJANGOAPP_HOST=127.0.0.1",
		"DJANGOAPP_PORT=0",
		"DJANGOAPP_READY_FILE="+ready,
		"DJANGOAPP_STDIN_EXIT=1",
	)
	if c.AccessTTL > 0 {
		env = append(env, "DJANGOAPP_ACCESS_TOKEN_LIFETIME="+seconds(c.AccessTTL))
	}
	if c.RefreshTTL > 0 {
		env = append(env, "DJANGOAPP_REFRESH_TOKEN_LIFETIME="+seconds(c.RefreshTTL))
	}
	out := c.Out
	if out == nil {
		out = io.Discard
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Not ended by ctx: Stop ends it, after the front that calls it.
	//nolint:gosec // G204: the interpreter the developer chose and the repository's own script
	cmd := exec.CommandContext(context.WithoutCancel(ctx), c.Python, filepath.Join(c.App, "serve.py"))
	cmd.Dir = c.Dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, out, out
	detach(cmd)
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("django: start %s: %w", c.Python, err)
	}
	d := &Django{cmd: cmd, stdin: w, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()
	if d.URL, err = d.waitReady(ctx, ready); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// waitReady waits for serve.py's ready file and returns the URL in it.
func (d *Django) waitReady(ctx context.Context, ready string) (string, error) {
	deadline := time.Now().Add(djangoStartTimeout)
	for {
		select {
		case <-d.exited:
			return "", fmt.Errorf("django: the server exited at start (%s; its log says why)", d.cmd.ProcessState)
		case <-ctx.Done():
			return "", ctx.Err()
		default:
		}
		if b, err := os.ReadFile(ready); err == nil {
			var r struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(b, &r); err != nil || !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
				return "", fmt.Errorf("django: bad ready file %q", b)
			}
			return r.URL, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("django: not listening after %s", djangoStartTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exited is closed when the server process has ended.
func (d *Django) Exited() <-chan struct{} { return d.exited }

// Stop ends the server: its standard input is closed (it exits), SIGKILL
// after 3 s. Later calls do nothing.
func (d *Django) Stop() {
	d.mu.Lock()
	stdin := d.stdin
	d.stdin = nil
	d.mu.Unlock()
	if stdin == nil {
		return
	}
	_ = stdin.Close()
	select {
	case <-d.exited:
		return
	case <-time.After(djangoStopWait):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(djangoStopWait):
	}
}

// ForDjango returns a copy of s for the Django backend: backend.preset
// django-simplejwt; no guests (Django has no guest endpoint) and no local
// verification (the compose file's key is the demo backend's, not
// Django's): authlayer asks Django's token/verify/ and reads the user
// from the token's claims. Everything else (routes, role rule, endpoints,
// cookies, proactive refresh, CSRF, headers) is the compose file's.
func (s *Setup) ForDjango() (*Setup, error) {
	out, err := s.withLabels(map[string]string{"backend.preset": DjangoPreset}, "guest", "jwt")
	if err != nil {
		return nil, err
	}
	out.GuestEnabled, out.GuestUsername, out.GuestPassword = false, "", ""
	out.SigningKey = nil
	return out, nil
}

// withLabels returns a copy of s with the options under each of drop
// (a group such as "jwt", or one option) removed, then values set as
// WithOptions sets them, and Options decoded again.
func (s *Setup) withLabels(values map[string]string, drop ...string) (*Setup, error) {
	kept := make(map[string]string, len(s.Labels))
	for k, v := range s.Labels {
		key := strings.ToLower(strings.TrimPrefix(strings.ToLower(k), LabelPrefix))
		dropped := false
		for _, d := range drop {
			d = strings.ToLower(d)
			if key == d || strings.HasPrefix(key, d+".") || strings.HasPrefix(key, d+"[") {
				dropped = true
				break
			}
		}
		if !dropped {
			kept[k] = v
		}
	}
	base := *s
	base.Labels = kept
	return base.WithOptions(values)
}
