package main

import (
	"bytes"
	"os"
	"sync"
)

// prefixWriter writes complete lines to stderr, each with prefix.
func prefixWriter(prefix string) *linePrefixer {
	return &linePrefixer{prefix: []byte(prefix)}
}

// maxLine bounds the buffered partial line.
const maxLine = 64 << 10

type linePrefixer struct {
	mu     sync.Mutex // protects buf
	prefix []byte
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			break
		}
		if i < 0 {
			i = len(l.buf) - 1 // an endless line is cut rather than buffered
		}
		line := append(append([]byte{}, l.prefix...), l.buf[:i+1]...)
		l.buf = l.buf[i+1:]
		if _, err := os.Stderr.Write(line); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}
