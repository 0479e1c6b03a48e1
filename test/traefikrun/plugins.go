package traefikrun

import (
	"fmt"
	"path/filepath"
)

// LocalPlugin is another local plugin Traefik loads next to authlayer (for
// example the empty plugin the benchmarks compare against).
type LocalPlugin struct {
	// Alias is its key under experimental.localPlugins, and the key under
	// a middleware's "plugin" in the dynamic configuration.
	Alias string
	// ModuleName is its module path; its source goes under
	// plugins-local/src/<ModuleName>.
	ModuleName string
	// Source is the directory holding its go.mod, .traefik.yml and .go
	// files (copied as CopyPlugin copies authlayer).
	Source string
}

// copyLocalPlugins lays out opts.LocalPlugins under dir/plugins-local/src.
func copyLocalPlugins(dir string, plugins []LocalPlugin) error {
	for _, p := range plugins {
		if p.Alias == "" || p.ModuleName == "" || p.Alias == PluginName {
			return fmt.Errorf("traefikrun: local plugin %+v: need an alias other than %q and a module name", p, PluginName)
		}
		src, err := filepath.Abs(p.Source)
		if err != nil {
			return err
		}
		if err := CopyPlugin(src, filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(p.ModuleName))); err != nil {
			return err
		}
	}
	return nil
}

// addLocalPlugins declares opts.LocalPlugins in the static configuration.
func (tr *Traefik) addLocalPlugins(static map[string]interface{}) {
	if len(tr.opts.LocalPlugins) == 0 {
		return
	}
	local := static["experimental"].(map[string]interface{})["localPlugins"].(map[string]interface{})
	for _, p := range tr.opts.LocalPlugins {
		local[p.Alias] = map[string]interface{}{"moduleName": p.ModuleName}
	}
}
