package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/authlayer/authlayer/test/plugincopy"
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

// CopyPluginSource copies what Traefik's plugin archive would hold from
// root to dst (plugincopy.Copy: the non-test .go files of root and its
// sub-packages, go.mod, go.sum, .traefik.yml, vendor/; nested modules such
// as demo and test, testdata and directories whose name starts with '.' or
// '_' are left out). root must hold .traefik.yml.
func CopyPluginSource(root, dst string) error {
	if _, err := os.Stat(filepath.Join(root, ".traefik.yml")); err != nil {
		return fmt.Errorf("plugin root %s: %w", root, err)
	}
	return plugincopy.Copy(root, dst)
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
