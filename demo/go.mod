module github.com/authlayer/authlayer/demo

go 1.22

replace github.com/authlayer/authlayer => ../

replace github.com/authlayer/authlayer/test => ../test

require github.com/golang-jwt/jwt/v5 v5.3.1
