package payment

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The bounds of a recorded body's view. The inbox keeps every body byte for
// byte as it was signed (up to the webhook's 1 MiB), but what finance is
// shown — the API's payload, the console's indented text — is built from it
// within these bounds: Midtrans signs only three fields, so one genuine
// notification with an extra field nested 9,990 levels deep is "signed",
// and expanding it whole made a 200 MB console page and JSON that clients'
// parsers refuse. A genuine notification is a few KiB, three levels deep.
const (
	ViewMaxDepth  = 16       // containers nested deeper are shown as a marker string
	ViewMaxBytes  = 16 << 10 // past this, the remaining elements are dropped for a marker
	ViewMaxString = 1 << 10  // a longer string (or key) is cut to about this many bytes
)

// The markers that stand for what the view left out.
const (
	markDeep      = `"…(nested deeper than 16 levels: left out)"`
	markTruncated = `"…(body larger than 16 KiB: the rest left out)"`
	markKey       = `"…"`
	markNumber    = `"…(a number of more than 64 digits: left out)"`
	maxNumber     = 64
)

// ViewMaxLen is the most bytes a view can take, whatever the body.
// The budget is checked before each element, so it can be passed by one key
// and its value (a cut string or a marker) and, on the way out, by a marker
// and a closing bracket per level.
const ViewMaxLen = ViewMaxBytes + 2*(ViewMaxString+16) + len(markDeep) + ViewMaxDepth*(len(markKey)+len(markTruncated)+3)

// BodyView is a recorded body as bounded JSON: valid UTF-8 JSON, nested at
// most ViewMaxDepth deep, at most ViewMaxLen bytes. A body within the bounds
// is shown compacted and otherwise unchanged; bytes that are not UTF-8 become
// U+FFFD, and a body that is not JSON at all is shown as one (cut) string.
// Its cost is linear in the body whatever its shape: what lies deeper than
// the bound or past the budget is skipped by a byte scan, not descended
// into, so the walk itself never recurses more than ViewMaxDepth levels.
func BodyView(b []byte) json.RawMessage {
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	if !json.Valid(b) {
		s, _ := json.Marshal(string(b))
		b = s
	}
	v := viewer{in: b}
	v.value(0)
	return v.out.Bytes()
}

// viewer copies a valid JSON text token by token, within the bounds.
type viewer struct {
	in  []byte
	i   int
	out bytes.Buffer
}

func (v *viewer) ws() {
	for v.i < len(v.in) {
		switch v.in[v.i] {
		case ' ', '\t', '\r', '\n':
			v.i++
		default:
			return
		}
	}
}

// value copies the value at v.i, at nesting depth d (0: the body itself).
func (v *viewer) value(d int) {
	v.ws()
	switch c := v.in[v.i]; c {
	case '{', '[':
		if d >= ViewMaxDepth {
			v.skip()
			v.out.WriteString(markDeep)
			return
		}
		v.container(d, c)
	case '"':
		v.str()
	default:
		start := v.i
		for v.i < len(v.in) && !isDelim(v.in[v.i]) {
			v.i++
		}
		if v.i-start > maxNumber {
			v.out.WriteString(markNumber)
			return
		}
		v.out.Write(v.in[start:v.i])
	}
}

// container copies an object or array whose opening bracket is at v.i.
func (v *viewer) container(d int, open byte) {
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	v.out.WriteByte(open)
	v.i++
	for n := 0; ; n++ {
		v.ws()
		if v.in[v.i] == closer {
			v.i++
			v.out.WriteByte(closer)
			return
		}
		if v.in[v.i] == ',' {
			v.i++
			v.ws()
		}
		if n > 0 {
			v.out.WriteByte(',')
		}
		if v.out.Len() > ViewMaxBytes {
			// Out of room: one marker for the rest of this container;
			// the containers around it end the same way.
			if open == '{' {
				v.out.WriteString(markKey + ":")
			}
			v.out.WriteString(markTruncated)
			v.skipRest()
			v.out.WriteByte(closer)
			return
		}
		if open == '{' {
			v.str()
			v.ws()
			v.i++ // ':'
			v.out.WriteByte(':')
		}
		v.value(d + 1)
	}
}

// str copies the string at v.i, its text cut to about ViewMaxString bytes:
// the cut is made in the JSON text, between escapes and whole characters,
// so what is kept is copied as it was.
func (v *viewer) str() {
	start := v.i
	v.i = stringEnd(v.in, v.i)
	raw := v.in[start:v.i]
	if len(raw) <= ViewMaxString+2 {
		v.out.Write(raw)
		return
	}
	j := 1
	for j < ViewMaxString {
		switch {
		case raw[j] == '\\' && raw[j+1] == 'u':
			j += 6
		case raw[j] == '\\':
			j += 2
		default:
			_, n := utf8.DecodeRune(raw[j:])
			j += n
		}
	}
	v.out.Write(raw[:j])
	v.out.WriteString(`…"`)
}

func isDelim(c byte) bool {
	switch c {
	case ',', ':', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd is the index just past the string that opens at i.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skip passes over the container that opens at v.i without copying it.
func (v *viewer) skip() {
	depth := 0
	for ; v.i < len(v.in); v.i++ {
		switch v.in[v.i] {
		case '"':
			v.i = stringEnd(v.in, v.i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				v.i++
				return
			}
		}
	}
}

// skipRest passes over the remaining elements of the current container,
// from v.i (the start of one), and over its closing bracket.
func (v *viewer) skipRest() {
	depth := 0
	for ; v.i < len(v.in); v.i++ {
		switch v.in[v.i] {
		case '"':
			v.i = stringEnd(v.in, v.i) - 1
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				v.i++
				return
			}
			depth--
		}
	}
}
