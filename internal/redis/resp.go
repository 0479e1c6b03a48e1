package redis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is the type of a reply.
type Kind uint8

// The kinds of RESP2 replies.
const (
	KindNil    Kind = iota // a null bulk string ($-1) or a null array (*-1): GET of a missing key, SET NX that lost
	KindStatus             // a simple string (+OK, +PONG): Str
	KindError              // an error reply inside an array or a pipeline (-ERR ...): Str, the server's text
	KindInt                // an integer (:1): Int
	KindBulk               // a bulk string, binary safe: Str
	KindArray              // an array: Array, whose elements may be arrays, nil or errors
)

// Value is one reply. Which field holds it depends on Kind.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Array []Value
}

// Limits on what a reply may make the client read or allocate: a hostile
// or broken server must not make it allocate gigabytes or recurse
// without end. A reply over a limit is a protocol error and its
// connection is dropped.
const (
	maxBulk  = 4 << 20  // bytes of one bulk string (a value, a message's payload)
	maxArray = 1 << 16  // elements of one array
	maxReply = 16 << 20 // bytes of one whole reply: bulk bytes plus elementCost per element
	maxDepth = 16       // nesting of arrays
	// elementCost is what an array element is charged against maxReply,
	// about the memory of a Value.
	elementCost = 64
	// lineSize is the read buffer; a line (simple string, error, integer,
	// length) longer than it is a protocol error.
	lineSize = 4096
	// preallocate caps the room reserved for an array before its elements
	// arrive: memory follows what the server actually sent, not what it
	// announced.
	preallocate = 64
)

// errLine and friends are the protocol errors. They are wrapped with
// ErrUnavailable and ErrProtocol where they are returned.
var (
	errTooLong   = errors.New("line too long")
	errNoCRLF    = errors.New("line not ended by CRLF")
	errBareCR    = errors.New("CR inside a line")
	errEmptyLine = errors.New("empty line")
)

// reader reads replies from one connection.
type reader struct {
	r       *bufio.Reader
	secret  string // removed from any error text the server sends (see scrub)
	budget  int    // bytes the reply being read may still take
	started bool   // a byte of a reply arrived (the command reached the server)
	ioErr   error  // the I/O error that ended the read, if one did
}

// appendCommand appends args encoded as a RESP2 array of bulk strings: the
// lengths make it binary safe (CR, LF, NUL in an argument are data).
func appendCommand(b []byte, args []string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// readReply reads one whole reply. An error reply at the top is returned
// as a Value of KindError, not as an error: the caller decides (Do turns
// it into ErrServer, Pipeline leaves it in place). The error returned is
// an I/O failure or a protocol error, both wrapped with ErrUnavailable.
func readReply(rd *reader) (Value, error) {
	rd.budget = maxReply
	v, err := readValue(rd, 0)
	if err != nil {
		return Value{}, err
	}
	return v, nil
}

// readValue reads one value. Each kind has a small function: Yaegi
// allocates every local a function declares on every call.
func readValue(rd *reader, depth int) (Value, error) {
	line, err := readLine(rd)
	if err != nil {
		return Value{}, err
	}
	switch line[0] {
	case '+':
		return Value{Kind: KindStatus, Str: line[1:]}, nil
	case '$':
		return readBulk(rd, line[1:])
	case '*':
		return readArray(rd, line[1:], depth)
	case ':':
		return readInt(rd, line[1:])
	case '-':
		return Value{Kind: KindError, Str: scrub(line[1:], rd.secret)}, nil
	}
	return Value{}, protocolError("unknown reply type %q", line[:1])
}

func readInt(rd *reader, body string) (Value, error) {
	n, err := parseInt(body)
	if err != nil {
		return Value{}, protocolError("integer reply %q", quote(rd, body))
	}
	return Value{Kind: KindInt, Int: n}, nil
}

func readBulk(rd *reader, body string) (Value, error) {
	n, err := parseInt(body)
	if err != nil || n < -1 {
		return Value{}, protocolError("bulk length %q", quote(rd, body))
	}
	if n == -1 {
		return Value{Kind: KindNil}, nil
	}
	if n > maxBulk || int(n) > rd.budget {
		return Value{}, protocolError("bulk string of %d bytes over the limit of %d", n, maxBulk)
	}
	rd.budget -= int(n)
	buf := make([]byte, int(n)+2)
	if _, err := io.ReadFull(rd.r, buf); err != nil {
		return Value{}, ioFailure(rd, err)
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return Value{}, protocolError("bulk string not ended by CRLF")
	}
	return Value{Kind: KindBulk, Str: string(buf[:n])}, nil
}

func readArray(rd *reader, body string, depth int) (Value, error) {
	n, err := parseInt(body)
	if err != nil || n < -1 {
		return Value{}, protocolError("array length %q", quote(rd, body))
	}
	if n == -1 {
		return Value{Kind: KindNil}, nil
	}
	if n > maxArray || int(n)*elementCost > rd.budget {
		return Value{}, protocolError("array of %d elements over the limit", n)
	}
	if depth >= maxDepth {
		return Value{}, protocolError("arrays nested deeper than %d", maxDepth)
	}
	rd.budget -= int(n) * elementCost
	room := int(n)
	if room > preallocate {
		room = preallocate
	}
	elems := make([]Value, 0, room)
	for i := int64(0); i < n; i++ {
		v, err := readValue(rd, depth+1)
		if err != nil {
			return Value{}, err
		}
		elems = append(elems, v)
	}
	return Value{Kind: KindArray, Array: elems}, nil
}

// readLine reads one CRLF-terminated line, without the CRLF, never empty.
func readLine(rd *reader) (string, error) {
	b, err := rd.r.ReadSlice('\n')
	if err != nil || len(b) < 3 || b[len(b)-2] != '\r' {
		return "", lineError(rd, b, err)
	}
	rd.started = true
	line := string(b[:len(b)-2])
	if strings.IndexByte(line, '\r') >= 0 {
		return "", protocolError("%v", errBareCR)
	}
	return line, nil
}

// lineError says why a line could not be read.
func lineError(rd *reader, b []byte, err error) error {
	if len(b) > 0 {
		rd.started = true
	}
	switch {
	case err == bufio.ErrBufferFull:
		return protocolError("%v (over %d bytes)", errTooLong, lineSize)
	case err != nil:
		return ioFailure(rd, err)
	case len(b) < 2 || b[len(b)-2] != '\r':
		return protocolError("%v", errNoCRLF)
	}
	return protocolError("%v", errEmptyLine)
}

// parseInt reads a RESP integer: an optional minus sign and decimal
// digits, nothing else (strconv alone would take "+5"; base 10 refuses
// spaces, underscores and prefixes).
func parseInt(s string) (int64, error) {
	if s == "" || s[0] == '+' {
		return 0, errNotInt
	}
	return strconv.ParseInt(s, 10, 64)
}

var errNotInt = errors.New("not an integer")

// ioFailure records an I/O error that ended a read and wraps it.
// io.EOF in the middle of a reply is an unexpected EOF.
func ioFailure(rd *reader, err error) error {
	rd.ioErr = err
	if err == io.EOF && rd.started {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: read: %v", ErrUnavailable, err)
}

// protocolError is a reply the client cannot read: the connection is
// dropped.
func protocolError(format string, args ...interface{}) error {
	return fmt.Errorf("%w: %w: "+format, append([]interface{}{ErrUnavailable, ErrProtocol}, args...)...)
}

// quote is server text fit to quote in an error: scrubbed, then
// shortened.
func quote(rd *reader, s string) string {
	s = scrub(s, rd.secret)
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// scrub removes secret from text the server sent before it reaches an
// error message: Redis never echoes a password, but a proxy or a
// misbehaving server might. Server texts are also capped in length.
func scrub(text, secret string) string {
	if secret != "" && strings.Contains(text, secret) {
		text = strings.ReplaceAll(text, secret, "[redacted]")
	}
	if len(text) > 512 {
		text = text[:512] + "..."
	}
	return text
}
