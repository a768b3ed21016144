package proforma

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/text/encoding/charmap"
)

// fastFonts are the Go fonts converted once per process into fpdf's
// embedded single-byte (cp1252) form: a pre-compressed font file and 256
// widths. Adding them to a document costs microseconds, where adding a UTF-8
// TTF costs milliseconds and megabytes on every document (fpdf parses the
// TTF into a 65,536-entry width table, hashes it as JSON for a font id,
// subsets the font and deflates it with a fresh zlib writer, per document).
type fastFonts struct {
	regularJSON, regularZ []byte
	boldJSON, boldZ       []byte
	translate             func(string) string
}

// cp1252Map writes the code page in fpdf's .map format, from x/text's table.
func cp1252Map() string {
	var b strings.Builder
	for i := 0; i < 256; i++ {
		r := charmap.Windows1252.DecodeByte(byte(i))
		name := fmt.Sprintf("uni%04X", r)
		if r == 0xFFFD || (i < 0x20) {
			fmt.Fprintf(&b, "!%02X U+%04X .notdef\n", i, i)
			continue
		}
		if i == 0x20 {
			name = "space"
		}
		fmt.Fprintf(&b, "!%02X U+%04X %s\n", i, r, name)
	}
	return b.String()
}

func makeFastFonts() (*fastFonts, error) {
	dir, err := os.MkdirTemp("", "lunas-fonts-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	mapFile := filepath.Join(dir, "cp1252.map")
	m := cp1252Map()
	if err := os.WriteFile(mapFile, []byte(m), 0o644); err != nil {
		return nil, err
	}
	ff := &fastFonts{}
	for _, f := range []struct {
		name    string
		ttf     []byte
		json, z *[]byte
	}{{"goregular", goregular.TTF, &ff.regularJSON, &ff.regularZ}, {"gobold", gobold.TTF, &ff.boldJSON, &ff.boldZ}} {
		ttf := filepath.Join(dir, f.name+".ttf")
		if err := os.WriteFile(ttf, f.ttf, 0o644); err != nil {
			return nil, err
		}
		if err := fpdf.MakeFont(ttf, mapFile, dir, nil, true); err != nil {
			return nil, fmt.Errorf("proforma: make font %s: %w", f.name, err)
		}
		if *f.json, err = os.ReadFile(filepath.Join(dir, f.name+".json")); err != nil {
			return nil, err
		}
		if *f.z, err = os.ReadFile(filepath.Join(dir, f.name+".z")); err != nil {
			return nil, err
		}
	}
	ff.translate = toCP1252
	return ff, nil
}

// toCP1252 writes s in cp1252 for the fast fonts. It is a pure function:
// fpdf's UnicodeTranslator shares one buffer between calls and is not safe
// for concurrent renders (the race detector showed it). Callers have
// checked that s is encodable; anything else becomes '?'.
func toCP1252(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x80 {
			b = append(b, byte(r))
			continue
		}
		if c, ok := charmap.Windows1252.EncodeRune(r); ok {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}

// encodable reports whether every string can be written in cp1252.
func encodable(ss ...string) bool {
	enc := charmap.Windows1252.NewEncoder()
	for _, s := range ss {
		if _, err := enc.String(s); err != nil {
			return false
		}
	}
	return true
}
