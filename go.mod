module github.com/authlayer/authlayer

go 1.21
