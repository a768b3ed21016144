package review

import (
	"bytes"
	"testing"
)

// FuzzCheckProof feeds arbitrary files to the proof check (an upload is
// the customer's bytes): it never panics, and whatever it accepts is a
// PNG, a JPEG or a PDF that ends with %%EOF.
func FuzzCheckProof(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n%garbage"))
	f.Add([]byte("%PDF-1.5\n1 0 obj\n<< /Type /XRef /Root 2 0 R >>\nstream\nendstream\nendobj\nstartxref\n9\n%%EOF\n"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, problem := CheckProof(b)
		if (ct == "") == (problem == "") {
			t.Fatalf("content type %q and problem %q: exactly one must be set", ct, problem)
		}
		if ct == "application/pdf" && !bytes.Contains(b, []byte("%%EOF")) {
			t.Fatalf("accepted a PDF without %%%%EOF: %q", b)
		}
		if ct != "" && ct != "application/pdf" && ct != "image/png" && ct != "image/jpeg" {
			t.Fatalf("content type %q", ct)
		}
	})
}
