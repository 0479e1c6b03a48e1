// Package browser holds the demo's browser test: a real headless Chromium,
// driven with chromedp, walks through the demo the way a person would
// (guest visit, a failed and a good login through authlayer's login
// endpoint, the dashboard's script getting the token refreshed before it
// expires, the session endpoint, a refresh after expiry, the role rule's
// 403 page, logout, a script's JSON login and logout) against the demo
// stack started in-process on loopback ports. Throughout, it records
// every response body the page receives and every Set-Cookie header over
// the DevTools protocol, and checks that neither those bodies nor
// document.cookie hold a token. In front of the backend and
// the app is a real Traefik with authlayer as a local plugin when there is
// a binary (TRAEFIK_BIN, traefik on PATH, or the one
// ../shared/tools/build-traefik caches), otherwise the dev host, where
// authlayer is interpreted by Yaegi as Traefik does (a failure instead when
// AUTHLAYER_REQUIRE_TRAEFIK=1). The test prints which front ran.
//
// AUTHLAYER_DEMO_URL points the test at a stack that is already running
// instead (`make demo`, or docker compose), whose access tokens live
// AUTHLAYER_DEMO_ACCESS_TTL (default 20s, the demo's; the test waits for
// two of them to run out):
//
//	AUTHLAYER_DEMO_URL=http://localhost:8080 go test -v -count=1 .
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
