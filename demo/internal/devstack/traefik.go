package devstack

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// TraefikDirs are the files WriteTraefikConfig lays out under one
// directory, which is also Traefik's working directory.
type TraefikDirs struct {
	Root       string // working directory
	Static     string // static configuration (traefik.yml)
	Dynamic    string // file provider's dynamic configuration
	PluginCopy string // plugins-local/src/<module>
}

// WriteTraefikConfig writes, under dir, a static configuration with the
// entry point on listenAddr and authlayer as a local plugin, a dynamic
// configuration with the compose file's router (everything through the
// middleware to the app at appURL; the auth backend has no router: only
// authlayer calls it, at the options' backend.url), and a copy of the
// plugin source taken from pluginRoot.
func WriteTraefikConfig(dir, listenAddr, pluginRoot string, options map[string]interface{}, appURL string) (TraefikDirs, error) {
	d := TraefikDirs{
		Root:       dir,
		Static:     filepath.Join(dir, "traefik.yml"),
		Dynamic:    filepath.Join(dir, "dynamic.yml"),
		PluginCopy: filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(ModuleName)),
	}
	static := map[string]interface{}{
		"global":      map[string]interface{}{"checkNewVersion": false, "sendAnonymousUsage": false},
		"log":         map[string]interface{}{"level": "INFO"},
		"entryPoints": map[string]interface{}{"web": map[string]interface{}{"address": listenAddr}},
		"providers":   map[string]interface{}{"file": map[string]interface{}{"filename": d.Dynamic}},
		"experimental": map[string]interface{}{"localPlugins": map[string]interface{}{
			PluginName: map[string]interface{}{"moduleName": ModuleName},
		}},
	}
	dynamic := map[string]interface{}{"http": map[string]interface{}{
		"routers": map[string]interface{}{
			"app": map[string]interface{}{
				"rule": "PathPrefix(`/`)", "entryPoints": []string{"web"},
				"middlewares": []string{MiddlewareName}, "service": "app",
			},
		},
		"middlewares": map[string]interface{}{
			MiddlewareName: map[string]interface{}{"plugin": map[string]interface{}{PluginName: options}},
		},
		"services": map[string]interface{}{
			"app": loadBalancer(appURL),
		},
	}}
	for path, doc := range map[string]interface{}{d.Static: static, d.Dynamic: dynamic} {
		data, err := yaml.Marshal(doc)
		if err != nil {
			return d, err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return d, err
		}
	}
	if err := CopyPluginSource(pluginRoot, d.PluginCopy); err != nil {
		return d, err
	}
	return d, nil
}

func loadBalancer(u string) map[string]interface{} {
	return map[string]interface{}{"loadBalancer": map[string]interface{}{
		"servers": []interface{}{map[string]interface{}{"url": u}},
	}}
}

// CopyPluginSource copies what a plugin archive holds from root to dst: the
// non-test .go files of root and its sub-packages, go.mod, go.sum and
// .traefik.yml. Nested modules (demo, test), testdata and directories whose
// name starts with '.' or '_' are left out.
func CopyPluginSource(root, dst string) error {
	if _, err := os.Stat(filepath.Join(root, ".traefik.yml")); err != nil {
		return fmt.Errorf("plugin root %s: %w", root, err)
	}
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := e.Name()
		if e.IsDir() {
			if rel == "." {
				return os.MkdirAll(dst, 0o750)
			}
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		keep := (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) ||
			rel == "go.mod" || rel == "go.sum" || rel == ".traefik.yml"
		if !keep || !e.Type().IsRegular() {
			return nil
		}
		return copyFile(p, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// RunTraefik runs the traefik binary bin with the configuration in d until
// ctx is done (then it is sent an interrupt, and killed if it has not
// stopped within 10 seconds) or it exits on its own. Its output goes to
// out.
func RunTraefik(ctx context.Context, bin string, d TraefikDirs, out io.Writer) error {
	//nolint:gosec // G204: running the Traefik binary the developer chose is the point
	cmd := exec.CommandContext(ctx, bin, "--configFile="+d.Static)
	cmd.Dir = d.Root // Traefik reads local plugins from ./plugins-local
	cmd.Stdout, cmd.Stderr = out, out
	// When ctx is done: an interrupt, then a kill after 10 seconds.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Start()
	if err == nil {
		if err = cmd.Wait(); err == nil {
			err = fmt.Errorf("traefik exited")
		} else {
			err = fmt.Errorf("traefik: %w", err)
		}
	}
	select {
	case <-ctx.Done():
		// Stopped on request (or before it started): the exit status
		// after the interrupt or the kill is not a failure.
		return nil
	default:
		return err
	}
}
