package docs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ciPlan runs `.ci/run --e2e-plan` (what make e2e would do, nothing run)
// with the given PATH additions and environment, no Traefik build tool and
// an empty build cache, and returns its output.
func ciPlan(t *testing.T, pathDirs []string, env ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	gocache, err := exec.Command(goBin, "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	path := strings.Join(append(pathDirs, filepath.Dir(goBin), "/usr/bin", "/bin"), string(os.PathListSeparator))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../.ci/run", "--e2e-plan")
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "PATH", "TRAEFIK_BIN", "AUTHLAYER_REQUIRE_TRAEFIK", "XDG_CACHE_HOME", "GOCACHE", "AUTHLAYER_BUILD_TRAEFIK":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"PATH="+path,
		"GOCACHE="+strings.TrimSpace(string(gocache)), // XDG_CACHE_HOME moves below
		"XDG_CACHE_HOME="+t.TempDir(),                 // no build-traefik cache
		"AUTHLAYER_BUILD_TRAEFIK=/nonexistent/build-traefik",
	)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf(".ci/run --e2e-plan: %v\n%s", err, out)
	}
	return string(out)
}

// fakeTraefik writes an executable named traefik in a new directory.
func fakeTraefik(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "traefik")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho Version: v3.7.13\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// TestCIRunSaysSkipOnlyWhenE2ESkips: .ci/run says make e2e skips only
// when the e2e tests would find no Traefik (they also look on PATH and in
// the build cache, not only at TRAEFIK_BIN and the build tool).
func TestCIRunSaysSkipOnlyWhenE2ESkips(t *testing.T) {
	if _, err := exec.LookPath("traefik"); err == nil {
		// Only the directories given below are searched, plus the system's.
		for _, d := range []string{"/usr/bin", "/bin"} {
			if _, err := os.Stat(filepath.Join(d, "traefik")); err == nil {
				t.Skipf("a traefik in %s: the no-binary case cannot be set up", d)
			}
		}
	}
	dir, bin := fakeTraefik(t)

	out := ciPlan(t, nil, "TRAEFIK_BIN=")
	if !strings.Contains(out, "make e2e skips") {
		t.Errorf("no Traefik anywhere: the plan does not say make e2e skips:\n%s", out)
	}

	out = ciPlan(t, nil, "TRAEFIK_BIN=", "AUTHLAYER_REQUIRE_TRAEFIK=1")
	if strings.Contains(out, "skips") || !strings.Contains(out, "make e2e fails") {
		t.Errorf("no Traefik, AUTHLAYER_REQUIRE_TRAEFIK=1: want \"make e2e fails\", not a skip:\n%s", out)
	}

	out = ciPlan(t, []string{dir}, "TRAEFIK_BIN=")
	if strings.Contains(out, "skips") || !strings.Contains(out, "make e2e runs Traefik "+bin) {
		t.Errorf("traefik on PATH: want \"make e2e runs Traefik %s\", no skip:\n%s", bin, out)
	}

	out = ciPlan(t, nil, "TRAEFIK_BIN="+bin)
	if strings.Contains(out, "skips") || !strings.Contains(out, "make e2e runs Traefik "+bin) {
		t.Errorf("TRAEFIK_BIN set: want \"make e2e runs Traefik %s\", no skip:\n%s", bin, out)
	}
}
