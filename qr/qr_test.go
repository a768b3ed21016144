package qr_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/gateway/midtrans"
	"github.com/lunas-id/lunas/internal/midtranstest"
	"github.com/lunas-id/lunas/qr"
)

// read decodes a PNG and reads the QR code in it back (gozxing, a Go port
// of ZXing: an independent decoder, so the test does not trust the encoder).
func read(t *testing.T, b []byte, px int) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if got := img.Bounds(); got != image.Rect(0, 0, px, px) {
		t.Fatalf("image is %v, want %d×%d", got, px, px)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("no QR code read back: %v", err)
	}
	if ec := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; ec != "M" {
		t.Errorf("error correction %v, want M", ec)
	}
	return res.GetText()
}

func TestPNGOfTheAskedSizeReadsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		payload string
		px      int
	}{
		{"https://lunas.example/pay/abc", 256},
		{"https://lunas.example/pay/abc", 29 + 8}, // version 3 at one pixel a module, nothing to spare
		{"HELLO 123", 301},                        // odd size: the spare pixels widen the border
		{strings.Repeat("lunas-", 300), 1024},     // 1800 bytes, a large version
	} {
		b, err := qr.PNG(tc.payload, tc.px)
		if err != nil {
			t.Fatalf("%q at %d px: %v", tc.payload[:min(len(tc.payload), 20)], tc.px, err)
		}
		if got := read(t, b, tc.px); got != tc.payload {
			t.Errorf("read back %q, want %q", got, tc.payload)
		}
	}
}

func TestQuietZone(t *testing.T) {
	t.Parallel()
	// "HELLO" is version 1 (21 modules); with the quiet zone 29 modules of
	// 10 px in 290 px: the first and last 40 px of every side are white.
	b, err := qr.PNG("HELLO", 290)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := png.Decode(bytes.NewReader(b))
	dark := func(x, y int) bool { r, _, _, _ := img.At(x, y).RGBA(); return r < 0x8000 }
	for i := 0; i < 290; i++ {
		for _, d := range []int{0, 39, 250, 289} {
			if dark(i, d) || dark(d, i) {
				t.Fatalf("dark pixel in the quiet zone at %d,%d", i, d)
			}
		}
	}
	if !dark(40, 40) || !dark(249, 40) || !dark(40, 249) {
		t.Error("the finder patterns do not start right after the quiet zone")
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	// Version 40-M holds 2331 bytes.
	if _, err := qr.PNG(strings.Repeat("x", 2400), 1024); !errors.Is(err, qr.ErrTooLong) {
		t.Errorf("2400 bytes: %v", err)
	}
	if _, err := qr.PNG("HELLO", 28); !errors.Is(err, qr.ErrTooSmall) {
		t.Errorf("28 px for 29 modules: %v", err)
	}
	if _, err := qr.PNG("", 256); err == nil {
		t.Error("an empty payload was drawn")
	}
	if _, err := qr.PNG("HELLO", qr.MaxPixels+1); err == nil {
		t.Error("an image over MaxPixels was drawn")
	}
}

// The EMVCo payload the fake Midtrans answers a QRIS charge with, as the
// gateway adapter hands it over, renders and reads back unchanged.
func TestTheFakesQRISPayloadRenders(t *testing.T) {
	t.Parallel()
	const key = "SB-Mid-server-FAKE_TEST_KEY_123"
	fake := midtranstest.New(key)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := midtrans.New(key, "sandbox", srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, acq := range []string{gateway.AcquirerGoPay, gateway.AcquirerShopee} {
		res, err := c.Charge(context.Background(), gateway.ChargeRequest{AttemptID: "pay_qr_" + strings.Fields(acq)[0], InvoiceNumber: "INV/2026/11/0001",
			Method: gateway.MethodQRIS, QRISAcquirer: acq, Amount: 1_110_000, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := res.Details["qr_string"].(string)
		if !strings.HasPrefix(payload, "000201010212") || !strings.Contains(payload, "54101110000.00") {
			t.Fatalf("not a dynamic QRIS payload of Rp1.110.000: %q", payload)
		}
		b, err := qr.PNG(payload, 400)
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, b, 400); got != payload {
			t.Errorf("%s: read back %q, want %q", acq, got, payload)
		}
	}
}
