module github.com/authlayer/authlayer/test

go 1.22.0

replace github.com/authlayer/authlayer => ../

require (
	github.com/authlayer/authlayer v0.0.0-00010101000000-000000000000
	github.com/mitchellh/mapstructure v1.5.1-0.20231216201459-8508981c8b6c
)
