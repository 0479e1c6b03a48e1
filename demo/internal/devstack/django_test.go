package devstack

import (
	"context"
	"net/http"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/test/loader"
)

// TestForDjango: the compose file's options for the Django backend are the
// same but for the preset, no guests and no local verification, and New
// accepts them.
func TestForDjango(t *testing.T) {
	setup, err := LoadSetup("../../docker-compose.yml", "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	dj, err := setup.ForDjango()
	if err != nil {
		t.Fatal(err)
	}
	if dj.GuestEnabled || dj.SigningKey != nil || dj.Option("guest.enabled") != "" || dj.Option("jwt.enabled") != "" {
		t.Errorf("ForDjango kept guests or jwt: %+v", dj.Labels)
	}
	if _, ok := dj.Options["jwt"]; ok {
		t.Errorf("options still hold jwt: %v", dj.Options["jwt"])
	}
	if _, ok := dj.Options["guest"]; ok {
		t.Errorf("options still hold guest: %v", dj.Options["guest"])
	}
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(dj.Options, cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Backend.Preset != DjangoPreset || cfg.Backend.URL != "http://127.0.0.1:9001" || len(cfg.Routes.Roles) != 1 ||
		cfg.Endpoints.Login != "/auth/login" || !cfg.CSRF.Enabled || cfg.Refresh.ProactiveWindow != "5s" || cfg.Cookies.Refresh != "refreshToken" {
		t.Errorf("decoded config = %+v", cfg)
	}
	if _, err := authlayer.New(context.Background(), http.NotFoundHandler(), cfg, DevHostMiddlewareName); err != nil {
		t.Fatalf("New refused the Django configuration: %v", err)
	}
	// The original setup is untouched.
	if !setup.GuestEnabled || setup.Option("jwt.enabled") != "true" {
		t.Error("ForDjango changed the setup it was called on")
	}
}
