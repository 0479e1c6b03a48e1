package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/authlayer/authlayer/demo/internal/devstack"
)

// backendDjango is the -backend value that runs the real Django backend.
const backendDjango = "django"

// startDjango runs the repository's Django REST framework + simplejwt
// project (test/djangoapp) with the demo's users (alice/alice in the group
// user, admin/admin in the group admin), the demo's token lifetimes,
// rotation and blacklisting after rotation, a signing key made up for the
// run, and its SQLite database in a temporary directory. It returns the
// server and the function that stops it and removes the directory.
func startDjango(ctx context.Context, f flags, logger *log.Logger) (*devstack.Django, func(), error) {
	python, err := devstack.FindDjangoPython("")
	if err != nil {
		return nil, nil, err
	}
	project, err := devstack.FindDjangoApp(f.pluginRoot, ".")
	if err != nil {
		return nil, nil, err
	}
	version, err := devstack.DjangoVersion(ctx, python)
	if err != nil {
		return nil, nil, err
	}
	key, err := devstack.RandomSecret(32)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "authlayer-demo-django-")
	if err != nil {
		return nil, nil, err
	}
	users := devstack.DemoDjangoUsers()
	dj, err := devstack.StartDjango(ctx, devstack.DjangoConfig{
		Python: python, App: project, Dir: dir,
		AccessTTL: f.accessTTL, RefreshTTL: f.refreshTTL,
		SigningKey: key, Users: users,
		Out: prefixWriter("django: "),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	accounts := make([]string, 0, len(users))
	for _, u := range users {
		accounts = append(accounts, fmt.Sprintf("%s/%s (group %s)", u.Username, u.Password, strings.Join(u.Groups, ", ")))
	}
	logger.Printf("auth backend: Django %s with REST framework and simplejwt (%s, %s) on %s: HS256 tokens, access tokens live %s, refresh tokens %s, rotated and blacklisted after use; users %s",
		version, project, python, dj.URL, f.accessTTL, f.refreshTTL, strings.Join(accounts, " and "))
	return dj, func() { dj.Stop(); os.RemoveAll(dir) }, nil
}
