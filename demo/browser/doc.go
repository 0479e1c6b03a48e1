// Package browser holds the demo's browser test: a real headless Chromium,
// driven with chromedp, walks through the demo the way a person would
// (guest visit, login, token refresh, role rule, logout) against the demo
// stack started in-process on loopback ports, with authlayer interpreted by
// Yaegi as Traefik does.
//
// It is a module of its own so that the demo module, and its plain
// `go test ./...`, never depend on chromedp or on a browser.
//
//	cd demo/browser && go test -v -count=1 .
//
// The test needs Chromium at /usr/bin/chromium (Debian: apt-get install -y
// chromium), or at the path in AUTHLAYER_CHROMIUM. Without one it skips,
// unless AUTHLAYER_REQUIRE_BROWSER=1 (as in CI), where it fails. Screenshots
// of every step go to a new temporary directory whose path it prints.
package browser
