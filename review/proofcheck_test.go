package review_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/review"
)

// The 17-byte "PDF" of the finish issue, a PNG signature followed by
// zeros and files cut short are refused with a reason; real images and
// PDFs (a classic cross-reference table and a PDF 1.5 cross-reference
// stream) pass.
func TestCheckProofRefusesWhatIsNotADocument(t *testing.T) {
	pngOK, pdfOK := lunastest.ProofPNG(t), lunastest.ProofPDF(t)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 16, 16)), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want, problem string
		file                []byte
	}{
		{"png", "image/png", "", pngOK},
		{"jpeg", "image/jpeg", "", jpg.Bytes()},
		{"pdf with an xref table", "application/pdf", "", pdfOK},
		{"pdf with an xref stream", "application/pdf", "", xrefStreamPDF()},
		{"pdf with a slightly wrong offset", "application/pdf", "", shiftOffset(pdfOK, 3)},
		{"the 17-byte pdf", "", "not a readable PDF", []byte("%PDF-1.4\n%garbage")},
		{"pdf cut short", "", "cut short", pdfOK[:len(pdfOK)/2]},
		{"pdf whose offset points nowhere", "", "no cross-reference", shiftOffset(pdfOK, -400)},
		{"pdf without a catalog", "", "no document catalog", bytes.ReplaceAll(pdfOK, []byte("/Root"), []byte("/Roof"))},
		{"png signature and zeros", "", "not a readable PNG", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)},
		{"png cut short", "", "not a readable PNG", pngOK[:len(pngOK)-20]},
		{"png of 100,000 × 100,000", "", "megapixels", hugePNG(pngOK)},
		{"jpeg cut short", "", "not a readable JPEG", jpg.Bytes()[:len(jpg.Bytes())/2]},
		{"html", "", "PNG, JPEG or PDF", []byte("<html><script>alert(1)</script>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, problem := review.CheckProof(tc.file)
			if ct != tc.want || !strings.Contains(problem, tc.problem) || (tc.problem == "") != (problem == "") {
				t.Errorf("CheckProof = %q, %q; want %q, a problem with %q", ct, problem, tc.want, tc.problem)
			}
		})
	}
}

// xrefStreamPDF is a minimal PDF 1.5 whose cross-reference is a stream.
func xrefStreamPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	b.WriteString("1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n")
	off := b.Len()
	b.WriteString("3 0 obj\n<< /Type /XRef /Size 4 /Root 1 0 R /W [1 2 1] /Length 0 >>\nstream\n\nendstream\nendobj\n")
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", off)
	return b.Bytes()
}

// shiftOffset rewrites the startxref offset by d bytes.
func shiftOffset(pdf []byte, d int) []byte {
	i := bytes.LastIndex(pdf, []byte("startxref"))
	var off int
	if _, err := fmt.Sscan(string(pdf[i+len("startxref"):]), &off); err != nil {
		panic(err)
	}
	out := append([]byte{}, pdf[:i]...)
	return fmt.Appendf(out, "startxref\n%d\n%%%%EOF\n", off+d)
}

// hugePNG claims 100,000 × 100,000 pixels in a valid IHDR (CRC fixed).
func hugePNG(p []byte) []byte {
	out := append([]byte{}, p...)
	binary.BigEndian.PutUint32(out[16:], 100_000)
	binary.BigEndian.PutUint32(out[20:], 100_000)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}
