package authlayer

import "net/http"

// Locales (i18n.*): the request's locale, from the first path segment,
// else the locale cookie, else Accept-Language, else the default; the
// rules see the path without its locale prefix. (Being built: issue 10.)

// i18nSettings are the compiled i18n options; nil when i18n is off.
type i18nSettings struct{}

func compileI18n(c *Config, s *settings) error {
	return nil
}

// routePath is the path the rules decide on: the request's own, without
// its locale prefix when i18n is on.
func routePath(m *middleware, req *http.Request) (decoded, raw string) {
	return req.URL.Path, req.URL.RawPath
}
