package lunastest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"codeberg.org/go-pdf/fpdf"
)

// ProofPNG returns a small PNG that decodes whole: a transfer receipt as
// the review package accepts it (a signature followed by zeros is refused).
func ProofPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := range 24 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{uint8(200 - y*4), 84, uint8(120 + x*3), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ProofPDF returns a one-page PDF with a real structure (fpdf writes a
// cross-reference table and a trailer), as a bank's e-statement would be.
func ProofPDF(t testing.TB) []byte {
	t.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	p.AddPage()
	p.SetFont("Helvetica", "", 12)
	p.Cell(40, 10, "Bukti transfer BCA 1.110.000")
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
