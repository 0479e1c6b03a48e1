package authlayer

// Error pages: what authlayer answers a browser itself (401, 403, 429,
// 503), and errorPages.* to replace them. (Being built: issue 10.)

// errorPageSettings are the compiled errorPages options.
type errorPageSettings struct{}

func compileErrorPages(c *Config, s *settings) error {
	return nil
}
