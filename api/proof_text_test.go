package api

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/internal/lunastest"
)

// A proof's sender fields with a NUL or bytes that are not UTF-8 are
// refused naming the field, as JSON bodies' strings are (PostgreSQL
// refused them with a 500).
func TestProofSenderFieldsMustBeText(t *testing.T) {
	for _, name := range []string{"Sari\x00", "Sari \xff"} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "receipt.png")
		_, _ = fw.Write(lunastest.ProofPNG(t))
		_ = mw.WriteField("amount", "1110000")
		_ = mw.WriteField("transferred_at", "2026-11-22T09:00:00+07:00")
		_ = mw.WriteField("sender_bank", "BCA")
		_ = mw.WriteField("sender_name", name)
		_ = mw.Close()
		req, _ := http.NewRequest("POST", "/v1/orders/x/proof", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		_, err := parseProof(req)
		var ve *lunas.ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "sender_name" || ve.Fields[0].Message != textMessage {
			t.Errorf("sender_name %q: %v", name, err)
		}
	}
}

// The withholding slip's text fields get the same check through the one
// upload reader (a NUL in its number reached PostgreSQL before, a 500).
func TestSlipFieldsMustBeText(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "slip.png")
	_, _ = fw.Write(lunastest.ProofPNG(t))
	_ = mw.WriteField("number", "BP-\x00-1")
	_ = mw.WriteField("date", "2026-11-30")
	_ = mw.Close()
	req, _ := http.NewRequest("POST", "/v1/orders/x/withholding-slip", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	_, err := parseSlip(req)
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) == 0 || ve.Fields[0].Field != "number" || ve.Fields[0].Message != textMessage {
		t.Errorf("a slip number with a NUL: %v", err)
	}
}
