// Command yaegiframes counts, per interpreted function, the calls and the
// frame slots one request makes when Yaegi v0.16.1 runs the plugin, for
// the routes of the step benchmark (test/benchtraefik/testdata/steps).
//
// Why frame slots: on every call of an interpreted function Yaegi
// allocates the callee's whole frame, one reflect.New per local and
// temporary the function declares, whether or not the code that uses it
// runs. On authlayer's request paths those allocations, and the garbage
// they leave, are the largest cost Traefik's CPU profile shows; the
// profile cannot say which interpreted function makes them (they are all
// interp.runCfg), this tool can.
//
// Yaegi has no such counter. The tool copies Yaegi v0.16.1's source from
// the module cache into a temporary directory, adds one counting call
// where a call's frame is made (interp/run.go) and a file with the
// counters, builds the program in testdata/prog.go.txt against that copy,
// and runs it. Nothing of Yaegi's is kept or committed.
//
//	cd test && go run ./cmd/yaegiframes jwt-hs256 user
//
// Routes: user, guest, guards (the step benchmark's), jwt-<alg> (local
// verification on every request, cache.ttl 0s) and jwt-<alg>-cached, for
// hs256, rs256, es256, eddsa. AUTHLAYER_PLUGIN_ROOT measures another copy
// of the plugin, with its own step files when it has them (a git archive
// of a commit), else this checkout's.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/authlayer/authlayer/test/traefikrun"
)

//go:embed testdata/prog.go.txt
var program string

//go:embed testdata/counters.go.txt
var counters string

// frameAnchor is the line of interp/run.go (v0.16.1) that makes an
// interpreted call's frame; the counting call goes right after it.
const frameAnchor = "\t\tnf := newFrame(f, len(def.types), f.runid())\n"

// wrapperAnchor makes the frame of a call from compiled code into an
// interpreted function (genFunctionWrapper: the plugin's ServeHTTP called
// by Traefik, a callback given to the standard library).
const wrapperAnchor = "\t\t\tfr := newFrame(f, len(def.types), f.runid())\n"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/yaegiframes ROUTE... (user, guest, guards, jwt-hs256, jwt-rs256-cached, ...)")
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "yaegiframes:", err)
		os.Exit(1)
	}
}

func run(routes []string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	pluginRoot, err := traefikrun.FindPluginRoot(wd)
	if err != nil {
		return err
	}
	testDir := filepath.Join(pluginRoot, "test")
	if r := os.Getenv(traefikrun.EnvPluginRoot); r != "" {
		pluginRoot = r
	}
	// The step files must match the plugin's internals: the measured
	// copy's own when it has them (a git archive of a commit does).
	steps := filepath.Join(pluginRoot, "test", "benchtraefik", "testdata", "steps")
	//nolint:gosec // G703: the plugin copy the developer chose (AUTHLAYER_PLUGIN_ROOT)
	if _, err := os.Stat(steps); err != nil {
		steps = filepath.Join(testDir, "benchtraefik", "testdata", "steps")
	}
	ctx := context.Background()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/traefik/yaegi").Output()
	if err != nil {
		return fmt.Errorf("locating Yaegi in the module cache: %w", err)
	}
	tmp, err := os.MkdirTemp("", "yaegiframes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	yaegi := filepath.Join(tmp, "yaegi")
	if err := copyTree(strings.TrimSpace(string(out)), yaegi); err != nil {
		return err
	}
	if err := patchYaegi(yaegi); err != nil {
		return err
	}
	prog := filepath.Join(tmp, "prog")
	if err := writeProgram(prog, testDir, yaegi); err != nil {
		return err
	}
	//nolint:gosec // G204: the routes the developer asked for, run by the program written above
	cmd := exec.CommandContext(ctx, "go", append([]string{"run", "."}, routes...)...)
	cmd.Dir = prog
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "YAEGIFRAMES_PLUGIN="+pluginRoot, "YAEGIFRAMES_STEPS="+steps)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// patchYaegi adds the counting call and the counters to a copy of Yaegi.
func patchYaegi(dir string) error {
	runGo := filepath.Join(dir, "interp", "run.go")
	src, err := os.ReadFile(runGo)
	if err != nil {
		return err
	}
	if strings.Count(string(src), frameAnchor) != 1 || strings.Count(string(src), wrapperAnchor) != 1 {
		return fmt.Errorf("interp/run.go: the frame allocation lines were not found once each (not Yaegi v0.16.1?)")
	}
	patched := strings.Replace(string(src), frameAnchor, frameAnchor+"\t\tcountFrame(def)\n", 1)
	patched = strings.Replace(patched, wrapperAnchor, wrapperAnchor+"\t\t\tcountFrame(def)\n", 1)
	//nolint:gosec // G703: the temporary copy this tool made
	if err := os.WriteFile(runGo, []byte(patched), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "interp", "zz_yaegiframes.go"), []byte(counters), 0o600)
}

// writeProgram lays out the counting program as a module that uses this
// checkout's test module and the patched Yaegi.
func writeProgram(dir, testDir, yaegi string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	goMod := "module yaegiframes\n\ngo 1.22\n\n" +
		"require (\n\tgithub.com/authlayer/authlayer/test v0.0.0\n\tgithub.com/traefik/yaegi v0.16.1\n)\n\n" +
		"replace github.com/authlayer/authlayer/test => " + testDir + "\n\n" +
		"replace github.com/traefik/yaegi => " + yaegi + "\n"
	sum, err := os.ReadFile(filepath.Join(testDir, "go.sum"))
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"go.mod": []byte(goMod), "go.sum": sum, "main.go": []byte(program)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies a read-only module directory into a writable one.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		//nolint:gosec // G122: a copy of the read-only module cache into a directory of our own
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		//nolint:gosec // G703: inside the temporary directory this tool made
		return os.WriteFile(target, data, 0o600)
	})
}
