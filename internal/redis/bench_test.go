package redis

import (
	"strconv"
	"testing"
	"time"
)

// The cost of a command against a real redis-server on loopback: one
// round trip, and ten commands in one pipeline (compare per command). Run
// compiled (go test -bench Redis -run '^$') and under Yaegi
// (./scripts/yaegi-test.sh ./internal/redis -bench Redis -run '^$').

func BenchmarkRedisRoundTrip(b *testing.B) {
	s := startRedis(b)
	c := serverClient(b, s, Options{})
	must(b, c, "SET", "k", "a value of some thirty bytes..")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Do(c, time.Now().Add(5*time.Second), "GET", "k"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisPipeline10(b *testing.B) {
	s := startRedis(b)
	c := serverClient(b, s, Options{})
	cmds := make([][]string, 0, 10)
	for i := 0; i < 10; i++ {
		cmds = append(cmds, []string{"INCR", "n" + strconv.Itoa(i)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Pipeline(c, time.Now().Add(5*time.Second), cmds...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisDecodeArray(b *testing.B) {
	in := string(appendCommand(nil, []string{"message", "al:logout", "0123456789abcdef0123456789abcdef"}))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
