package proforma

import "golang.org/x/text/encoding/charmap"

// toCP1252 writes s in cp1252 for the core font's WinAnsiEncoding. It is a pure function:
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
