package redis

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func decode(input string) (Value, error) {
	rd := &reader{r: bufio.NewReaderSize(strings.NewReader(input), lineSize), secret: "hunter2-secret"}
	return readReply(rd)
}

func TestEncodeCommandIsBinarySafe(t *testing.T) {
	got := string(appendCommand(nil, []string{"SET", "k", "a\r\nb\x00", ""}))
	want := "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\x00\r\n$0\r\n\r\n"
	if got != want {
		t.Fatalf("encoded %q, want %q", got, want)
	}
	// What the client encodes, its own decoder reads back as an array of
	// the same bulk strings.
	v, err := decode(got)
	if err != nil || v.Kind != KindArray || len(v.Array) != 4 || v.Array[2].Str != "a\r\nb\x00" || v.Array[3].Kind != KindBulk {
		t.Fatalf("decoded %+v, %v", v, err)
	}
}

func TestDecodeReplies(t *testing.T) {
	cases := []struct {
		in   string
		want Value
	}{
		{"+OK\r\n", Value{Kind: KindStatus, Str: "OK"}},
		{"-ERR wrong kind\r\n", Value{Kind: KindError, Str: "ERR wrong kind"}},
		{":0\r\n", Value{Kind: KindInt}},
		{":-42\r\n", Value{Kind: KindInt, Int: -42}},
		{":9223372036854775807\r\n", Value{Kind: KindInt, Int: 9223372036854775807}},
		{"$0\r\n\r\n", Value{Kind: KindBulk}},
		{"$-1\r\n", Value{Kind: KindNil}},
		{"*-1\r\n", Value{Kind: KindNil}},
		{"$4\r\na\r\nb\r\n", Value{Kind: KindBulk, Str: "a\r\nb"}},
		{"$1\r\n\n\r\n", Value{Kind: KindBulk, Str: "\n"}},
		{"$3\r\n\x00\xff$\r\n", Value{Kind: KindBulk, Str: "\x00\xff$"}},
	}
	for _, c := range cases {
		got, err := decode(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got.Kind != c.want.Kind || got.Str != c.want.Str || got.Int != c.want.Int || len(got.Array) != 0 {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestDecodeNestedArrays(t *testing.T) {
	v, err := decode("*4\r\n*2\r\n:1\r\n$-1\r\n-ERR inside\r\n*0\r\n*-1\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != KindArray || len(v.Array) != 4 {
		t.Fatalf("got %+v", v)
	}
	inner := v.Array[0]
	if inner.Kind != KindArray || len(inner.Array) != 2 || inner.Array[0].Int != 1 || inner.Array[1].Kind != KindNil {
		t.Fatalf("inner array %+v", inner)
	}
	if v.Array[1].Kind != KindError || !errors.Is(Err(v.Array[1]), ErrServer) {
		t.Fatalf("an error element is %+v", v.Array[1])
	}
	if v.Array[2].Kind != KindArray || len(v.Array[2].Array) != 0 || v.Array[3].Kind != KindNil {
		t.Fatalf("empty and null arrays: %+v %+v", v.Array[2], v.Array[3])
	}
}

// hostileReplies are inputs a broken or hostile server may send. Each
// must end in an error wrapping ErrUnavailable, never a panic, a hang
// or a large allocation. protocol says whether it is a protocol error
// (the rest are truncations: an I/O failure).
var hostileReplies = []struct {
	name     string
	in       string
	protocol bool
}{
	{"empty input", "", false},
	{"type byte alone", "+", false},
	{"line without CRLF", "+OK", false},
	{"LF without CR", "+OK\n", true},
	{"bare CR in a simple string", "+O\rK\r\n", true},
	{"bare CR in an error", "-ERR a\rb\r\n", true},
	{"empty line", "\r\n", true},
	{"unknown type", "?what\r\n", true},
	{"RESP3 map", "%1\r\n+a\r\n+b\r\n", true},
	{"integer with letters", ":12a\r\n", true},
	{"integer with a plus sign", ":+5\r\n", true},
	{"integer with spaces", ": 5\r\n", true},
	{"empty integer", ":\r\n", true},
	{"integer overflow", ":99999999999999999999\r\n", true},
	{"bulk length not a number", "$x\r\n", true},
	{"bulk length with a plus sign", "$+3\r\nabc\r\n", true},
	{"negative bulk length", "$-2\r\n", true},
	{"oversized bulk", "$99999999999\r\n", true},
	{"bulk just over the limit", "$4194305\r\n", true},
	{"bulk length overflowing int64", "$99999999999999999999\r\n", true},
	{"truncated bulk", "$5\r\nhel", false},
	{"bulk without its CRLF", "$3\r\nabc", false},
	{"bulk longer than announced", "$3\r\nabcde\r\n", true},
	{"bulk shorter than announced", "$5\r\nabc\r\n", false},
	{"negative array length", "*-2\r\n", true},
	{"oversized array", "*99999999\r\n", true},
	{"truncated array", "*3\r\n:1\r\n:2\r\n", false},
	{"array of garbage", "*2\r\n:1\r\nxyz\r\n", true},
	{"arrays nested too deep", strings.Repeat("*1\r\n", 40) + ":1\r\n", true},
	{"line over the buffer", "+" + strings.Repeat("a", 5000) + "\r\n", true},
	{"error line over the buffer", "-ERR " + strings.Repeat("a", 5000), true},
}

func TestDecodeHostileReplies(t *testing.T) {
	for _, h := range hostileReplies {
		v, err := decode(h.in)
		if err == nil {
			t.Errorf("%s: decoded %+v, want an error", h.name, v)
			continue
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %v does not wrap ErrUnavailable", h.name, err)
		}
		if got := errors.Is(err, ErrProtocol); got != h.protocol {
			t.Errorf("%s: protocol error %v, want %v (%v)", h.name, got, h.protocol, err)
		}
		if errors.Is(err, ErrServer) {
			t.Errorf("%s: %v counts as a server error", h.name, err)
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: error of %d bytes quotes too much", h.name, len(err.Error()))
		}
	}
}

// TestDecodeBudgetCountsNestedReplies: many arrays each under the limits
// still cannot add up past the reply budget.
func TestDecodeBudgetCountsNestedReplies(t *testing.T) {
	var b strings.Builder
	b.WriteString("*8\r\n")
	for i := 0; i < 8; i++ {
		b.WriteString("*32768\r\n") // 8 × 32768 × 64 bytes: 16 MiB, the budget, before the outer array's share
	}
	_, err := decode(b.String())
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("got %v, want a protocol error for a reply over the budget", err)
	}
}

func TestDecodeScrubsTheSecretFromServerText(t *testing.T) {
	v, err := decode("-ERR bad password hunter2-secret, try again\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v.Str, "hunter2") || !strings.Contains(v.Str, "[redacted]") {
		t.Fatalf("server text %q", v.Str)
	}
	_, err = decode(":hunter2-secret\r\n")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("protocol error %v quotes the secret", err)
	}
}

func TestServerErrorClasses(t *testing.T) {
	cases := []struct {
		text string
		auth bool
	}{
		{"ERR unknown command", false},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"NOAUTH Authentication required.", true},
		{"WRONGPASS invalid username-password pair or user is disabled.", true},
		{"NOPERM this user has no permissions to access one of the keys used as arguments", true},
	}
	for _, c := range cases {
		err := Err(Value{Kind: KindError, Str: c.text})
		if !errors.Is(err, ErrServer) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAuth) != c.auth {
			t.Errorf("%q: %v (auth %v)", c.text, err, errors.Is(err, ErrAuth))
		}
		if !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q: the error %q drops the server's text", c.text, err)
		}
	}
	if Err(Value{Kind: KindStatus, Str: "ERR"}) != nil {
		t.Fatal("a status reply made an error")
	}
}

// FuzzDecode: no input makes the decoder panic, and every failure is
// ErrUnavailable. The seeds also run in TestDecodeFuzzSeeds (the Yaegi
// CLI skips Fuzz functions).
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkDecode(t, in)
	})
}

func TestDecodeFuzzSeeds(t *testing.T) {
	for _, s := range decodeSeeds() {
		checkDecode(t, s)
	}
}

func decodeSeeds() []string {
	seeds := []string{"*2\r\n$3\r\nfoo\r\n:1\r\n", "*1\r\n*1\r\n$-1\r\n", "-ERR x\r\n", "+PONG\r\n"}
	for _, h := range hostileReplies {
		seeds = append(seeds, h.in)
	}
	return seeds
}

func checkDecode(t *testing.T, in string) {
	v, err := decode(in)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%q: %v is not ErrUnavailable", in, err)
	}
	if err == nil && v.Kind == KindBulk && len(v.Str) > maxBulk {
		t.Fatalf("%q: bulk of %d bytes", in, len(v.Str))
	}
}
