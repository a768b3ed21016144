package review

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"regexp"
	"strconv"
)

// MaxProofPixels bounds a proof image before it is decoded: a phone
// photo is ~12 MP; a 5 MiB file claiming 100,000 × 100,000 pixels would
// otherwise make the decoder allocate gigabytes.
const MaxProofPixels = 24_000_000

// CheckProof tells a proof's type by its content and checks that the
// content really is what its first bytes claim: an image that decodes
// whole, or a PDF whose structure holds (a header, a cross-reference
// table or stream where `startxref` points, a trailer naming the
// document's /Root, `%%EOF` at the end). It returns the content type, or
// "" and the reason a person can act on. SubmitProof calls it; the API
// calls it too, to report the file with the other fields at once.
//
// A header alone (`%PDF-1.4\n%garbage`, a PNG signature followed by zeros)
// is refused: finance would open an order's review to find nothing to
// look at.
func CheckProof(b []byte) (contentType, problem string) {
	ct := SniffProof(b)
	switch ct {
	case "image/png", "image/jpeg":
		if p := checkImage(b, ct); p != "" {
			return "", p
		}
	case "application/pdf":
		if p := checkPDF(b); p != "" {
			return "", p
		}
	default:
		return "", "must be a PNG, JPEG or PDF (checked by content)"
	}
	return ct, ""
}

func checkImage(b []byte, ct string) string {
	decodeConfig, decode := png.DecodeConfig, png.Decode
	name := "PNG"
	if ct == "image/jpeg" {
		decodeConfig, decode = jpeg.DecodeConfig, jpeg.Decode
		name = "JPEG"
	}
	cfg, err := decodeConfig(bytes.NewReader(b))
	if err != nil {
		return "is not a readable " + name + " image"
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxProofPixels {
		return "is a " + name + " image of " + strconv.Itoa(cfg.Width) + " × " + strconv.Itoa(cfg.Height) +
			" pixels; at most " + strconv.Itoa(MaxProofPixels/1_000_000) + " megapixels are accepted"
	}
	var img image.Image
	if img, err = decode(bytes.NewReader(b)); err != nil || img == nil {
		return "is not a readable " + name + " image (it is cut short or damaged)"
	}
	return ""
}

var (
	pdfHeader    = regexp.MustCompile(`\A%PDF-(1\.[0-7]|2\.0)[\r\n \t%]`)
	pdfStartXref = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*\z`)
	pdfObj       = regexp.MustCompile(`\A\s*\d+\s+\d+\s+obj\b`)
)

// checkPDF is a strict structural check, not a renderer: what a reader
// needs to find the document at all. Offsets a few bytes off are common
// in PDFs written by office tools and every reader tolerates them, so the
// cross-reference section is looked for in a small window around the
// offset given.
func checkPDF(b []byte) string {
	const broken = "is not a readable PDF document"
	if !pdfHeader.Match(b) {
		return broken + " (no PDF header)"
	}
	tail := b
	if len(tail) > 2048 {
		tail = tail[len(tail)-2048:]
	}
	m := pdfStartXref.FindSubmatch(tail)
	if m == nil {
		return broken + " (it does not end with startxref and %%EOF: cut short?)"
	}
	off, err := strconv.Atoi(string(m[1]))
	if err != nil || off <= 0 || off >= len(b) {
		return broken + " (its cross-reference offset points outside the file)"
	}
	const slack = 64
	lo, hi := max(off-slack, 0), min(off+slack, len(b))
	window := b[lo:hi]
	var dict []byte
	switch {
	case bytes.Contains(window, []byte("xref")):
		// A classic table: the trailer after it holds the /Root.
		i := bytes.LastIndex(b, []byte("trailer"))
		if i < 0 {
			return broken + " (no trailer)"
		}
		dict = b[i:]
	default:
		// A cross-reference stream (PDF 1.5+): an object of /Type /XRef.
		at := bytes.Index(window, []byte(" obj"))
		if at < 0 || !pdfObj.Match(trimToDigits(window[:at+4])) {
			return broken + " (no cross-reference where startxref points)"
		}
		end := bytes.Index(b[lo+at:], []byte("stream"))
		if end < 0 {
			return broken + " (a cross-reference object without its stream)"
		}
		dict = b[lo+at : lo+at+end]
		if !bytes.Contains(dict, []byte("/XRef")) {
			return broken + " (no cross-reference where startxref points)"
		}
	}
	if !bytes.Contains(dict, []byte("/Root")) {
		return broken + " (its trailer names no document catalog)"
	}
	if !bytes.Contains(b, []byte("endobj")) {
		return broken + " (it holds no objects)"
	}
	return ""
}

// trimToDigits drops what precedes the object number in a window that
// starts mid-line ("…\n12 0 obj" → "12 0 obj").
func trimToDigits(w []byte) []byte {
	i := len(w) - len(" obj")
	// walk back over "N G" (two numbers and the space between them)
	spaces := 0
	for i > 0 {
		c := w[i-1]
		switch {
		case c >= '0' && c <= '9':
		case c == ' ' && spaces == 0:
			spaces++
		default:
			return w[i:]
		}
		i--
	}
	return w[i:]
}
