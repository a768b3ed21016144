package payment_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lunas-id/lunas/payment"
)

// depthOf is how deeply a valid JSON text nests (0: a scalar).
func depthOf(b []byte) int {
	d, most, in := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '{' || c == '['):
			d++
			most = max(most, d)
		case !in && (c == '}' || c == ']'):
			d--
		}
	}
	return most
}

// checkView holds the view's promises for one body: valid UTF-8 JSON that
// Go's own parser reads, within the depth and size bounds, and a body
// within the bounds shown unchanged but for its white space.
func checkView(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	v := payment.BodyView(body)
	if !utf8.Valid(v) || !json.Valid(v) {
		t.Fatalf("view of %.200q is not valid UTF-8 JSON: %.300q", body, v)
	}
	var any_ any
	if err := json.Unmarshal(v, &any_); err != nil {
		t.Fatalf("view does not parse: %v", err)
	}
	if d := depthOf(v); d > payment.ViewMaxDepth {
		t.Fatalf("view nests %d deep, more than %d", d, payment.ViewMaxDepth)
	}
	if len(v) > payment.ViewMaxLen {
		t.Fatalf("view is %d bytes, more than %d", len(v), payment.ViewMaxLen)
	}
	if utf8.Valid(body) && json.Valid(body) && len(body) <= payment.ViewMaxBytes && depthOf(body) <= payment.ViewMaxDepth {
		var c bytes.Buffer
		_ = json.Compact(&c, body)
		long := false
		for _, f := range strings.FieldsFunc(string(body), func(r rune) bool { return strings.ContainsRune(`"{}[],: `, r) }) {
			long = long || len(f) > 64
		}
		if !long && !bytes.Equal(v, c.Bytes()) {
			t.Fatalf("a body within the bounds is changed:\n%.300s\n%.300s", c.Bytes(), v)
		}
	}
	return v
}

// The signed Midtrans body of the report: an extra field nested 9,990
// levels deep. Its view is small, shallow, and keeps the signed fields.
func TestBodyViewOfADeeplyNestedBody(t *testing.T) {
	deep := `{"order_id":"pay_1","status_code":"200","gross_amount":"1000.00","extra":` +
		strings.Repeat(`{"a":`, 9990) + `1` + strings.Repeat(`}`, 9990) + `,"currency":"IDR"}`
	start := time.Now()
	v := checkView(t, []byte(deep))
	if time.Since(start) > time.Second {
		t.Errorf("view took %v", time.Since(start))
	}
	if len(v) > 2<<10 {
		t.Errorf("view of a 20 KB body is %d bytes", len(v))
	}
	var top map[string]any
	if err := json.Unmarshal(v, &top); err != nil || top["order_id"] != "pay_1" || top["currency"] != "IDR" {
		t.Errorf("view lost the top-level fields: %s (%v)", v, err)
	}
	// Deeper than Go's own parser goes, wide, long strings and numbers,
	// not JSON at all: each within the bounds.
	for name, body := range map[string]string{
		"200,000 deep": strings.Repeat(`[`, 200000) + strings.Repeat(`]`, 200000),
		"wide":         `[` + strings.Repeat(`"abcdefghij",`, 100000) + `1]`,
		"wide object":  `{` + strings.Repeat(`"k":{"a":[1,2,3]},`, 50000) + `"z":1}`,
		"long string":  `{"s":"` + strings.Repeat(`\u00e9x`, 100000) + `"}`,
		"long key":     `{"` + strings.Repeat(`k`, 100000) + `":1}`,
		"long number":  `[` + strings.Repeat(`9`, 100000) + `]`,
		"not JSON":     strings.Repeat("<b>\x00\xff", 100000),
		"deep, wide":   strings.Repeat(`[`, 15) + strings.Repeat(`"`+strings.Repeat("x", 1000)+`",`, 100) + `1` + strings.Repeat(`]`, 15),
	} {
		v := checkView(t, []byte(body))
		t.Logf("%s: %d bytes → %d", name, len(body), len(v))
	}
}

// FuzzBodyView: whatever the body — its depth, its size, its bytes — the
// view is valid JSON within the bounds, and a body within the bounds is
// shown as it is. The generated inputs nest and repeat the seed's parts.
func FuzzBodyView(f *testing.F) {
	f.Add([]byte(`{"order_id":"pay_1","va_numbers":[{"bank":"bca","va_number":"123"}],"gross_amount":"10.00"}`), uint16(3), uint16(2))
	f.Add([]byte(`{"a":"\u00e9\ud83d\ude00\\\"","b":[true,false,null,-1.5e10]}`), uint16(20), uint16(1000))
	f.Add([]byte("not json \xff"), uint16(0), uint16(20000))
	f.Add([]byte(`"x"`), uint16(9990), uint16(1))
	f.Fuzz(func(t *testing.T, part []byte, depth, width uint16) {
		// The part as is, nested depth levels deep (alternating objects
		// and arrays), and repeated width times in an array.
		checkView(t, part)
		var b bytes.Buffer
		for i := range int(depth) {
			if i%2 == 0 {
				b.WriteString(`{"k":`)
			} else {
				b.WriteString(`[`)
			}
		}
		b.Write(part)
		for i := int(depth) - 1; i >= 0; i-- {
			if i%2 == 0 {
				b.WriteString(`}`)
			} else {
				b.WriteString(`]`)
			}
		}
		checkView(t, b.Bytes())
		if len(part)*int(width) < 4<<20 {
			wide := `[` + strings.Repeat(string(part)+`,`, int(width)) + `0]`
			checkView(t, []byte(wide))
		}
	})
}
