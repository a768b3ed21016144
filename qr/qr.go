// Package qr draws a QR code as a PNG. lunas uses it for the QRIS payload
// (qr_string) of a payment attempt, which the pay page and the API's qr_url
// serve as an image any QRIS app can scan; the fake Midtrans
// (internal/midtranstest) draws its QR image URLs with it too.
//
// The symbol comes from github.com/yeqown/go-qrcode/v2: of the two Go QR
// encoders considered it is the one still maintained (v2.3.0, August 2026;
// github.com/skip2/go-qrcode has no release and no change since June 2020),
// it is pure Go, and its core hands over the bare module matrix, so the
// image is drawn here: whole pixels per module, no smoothing, exactly the
// size asked. Its own PNG writer is a separate module that is not needed.
package qr

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// QuietZone is the white border around the symbol, in modules: the four
// that ISO/IEC 18004 asks for, so a phone finds the code on any background.
const QuietZone = 4

// MaxPixels bounds the image's side, so a request cannot make lunas draw
// (and hold) an image of any size.
const MaxPixels = 4096

// Errors of PNG.
var (
	// ErrTooLong: the payload does not fit the largest QR code (version 40)
	// at medium error correction.
	ErrTooLong = errors.New("qr: payload too long for a QR code")
	// ErrTooSmall: the asked side cannot give each module a whole pixel.
	ErrTooSmall = errors.New("qr: image too small for the QR code")
)

// PNG renders payload as a QR code in a px × px PNG: medium error
// correction (level M, ~15 % of the symbol may be damaged or covered),
// black modules on white with a quiet zone of QuietZone modules, each
// module a square of whole pixels, centred (any pixels left over widen the
// white border). The payload is encoded as given, byte for byte.
func PNG(payload string, px int) ([]byte, error) {
	if payload == "" {
		return nil, errors.New("qr: empty payload")
	}
	if px > MaxPixels {
		return nil, fmt.Errorf("qr: %d px is more than the %d px allowed", px, MaxPixels)
	}
	code, err := qrcode.NewWith(payload, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		// The encoder's only refusal of a non-empty payload is its size.
		return nil, fmt.Errorf("%w (%d bytes): %v", ErrTooLong, len(payload), err)
	}
	var bits [][]bool
	if err := code.Save(matrixWriter{&bits}); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	modules := len(bits) + 2*QuietZone
	scale := px / modules
	if scale < 1 {
		return nil, fmt.Errorf("%w: %d px for %d modules (at least %d px)", ErrTooSmall, px, modules, modules)
	}
	offset := (px-scale*modules)/2 + QuietZone*scale
	img := image.NewPaletted(image.Rect(0, 0, px, px), color.Palette{color.White, color.Black})
	// Index 0 (white) is every pixel's value already; draw the dark modules.
	for y, row := range bits {
		for x, dark := range row {
			if !dark {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				line := img.Pix[(offset+y*scale+dy)*img.Stride:]
				for dx := 0; dx < scale; dx++ {
					line[offset+x*scale+dx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return buf.Bytes(), nil
}

// matrixWriter takes the finished symbol from the encoder (its Writer
// interface is how the matrix is handed out).
type matrixWriter struct{ bits *[][]bool }

func (w matrixWriter) Write(m qrcode.Matrix) error {
	*w.bits = m.Bitmap()
	return nil
}

func (w matrixWriter) Close() error { return nil }
