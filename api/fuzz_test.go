package api

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/review"
)

// FuzzOrderRequest feeds arbitrary bodies to the order decoder and the
// pricing behind it: no panic, and any accepted order is priced within the
// rules (whole rupiah, minimums held, VAT on the subtotal).
func FuzzOrderRequest(f *testing.F) {
	f.Add([]byte(`{"account_id":"acme","requester":{"name":"Sari","email":"sari@acme.example"},"items":[{"product":"wa_balance","quantity":999000},{"product":"muv","quantity":700}]}`))
	f.Add([]byte(`{"items":[{"product":"muv","quantity":9223372036854775807}]}`))
	f.Add([]byte(`{"items":[{"product":"wa_balance","quantity":-1}],"x":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"items":[{"product":"muv","quantity":1e3}]}`))
	f.Add([]byte("{\"account_id\":\"a\\u0000\",\"requester\":{\"name\":\"S\xffari\"}}"))
	cat := invoice.DefaultCatalog()
	f.Fuzz(func(t *testing.T, body []byte) {
		var in invoice.CreateInput
		if err := decodeBytes(body, &in); err != nil {
			var ve *lunas.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("decode error is not a validation error naming a field: %v", err)
			}
			return
		}
		// What is accepted is text PostgreSQL stores.
		for _, v := range []string{in.AccountID, in.Requester.Name, in.Requester.Email} {
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				t.Fatalf("accepted %q", v)
			}
		}
		items, tot, err := cat.Price(in.Items)
		if err != nil {
			return
		}
		var sum int64
		for _, it := range items {
			if it.Amount <= 0 || it.Quantity < it.RequestedQuantity {
				t.Fatalf("bad line %+v", it)
			}
			if it.Product == order.ProductWABalance && it.Quantity < cat.WAMinTopUp {
				t.Fatalf("below minimum: %+v", it)
			}
			sum += it.Amount
		}
		if tot.Subtotal != sum || tot.VAT < 0 || tot.Total != tot.Subtotal+tot.VAT {
			t.Fatalf("totals %+v for lines summing to %d", tot, sum)
		}
	})
}

// FuzzProofUpload feeds arbitrary multipart bodies (with a fixed and a
// fuzzed boundary) to the proof parser: no panic, and whatever it accepts is
// complete.
func FuzzProofUpload(f *testing.F) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "../../etc/passwd")
	fw.Write([]byte("\x89PNG\r\n\x1a\n0000"))
	mw.WriteField("amount", "1110000")
	mw.WriteField("transferred_at", "2026-11-22T09:00:00+07:00")
	mw.WriteField("sender_bank", "BCA")
	mw.WriteField("sender_name", "Sari")
	mw.Close()
	f.Add(buf.Bytes(), mw.Boundary())
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n<html>\r\n--x--\r\n"), "x")
	f.Add([]byte("garbage"), "")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		req, _ := http.NewRequest("POST", "/v1/orders/x/proof", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		in, err := parseProof(req)
		if err != nil {
			return
		}
		if len(in.File) == 0 || len(in.File) > review.MaxProofSize || in.Amount <= 0 || in.TransferredAt.IsZero() || in.SenderBank == "" || in.SenderName == "" {
			t.Fatalf("accepted an incomplete proof: %+v", in)
		}
		for _, v := range []string{in.SenderBank, in.SenderName} {
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				t.Fatalf("accepted a sender field PostgreSQL cannot store: %q", v)
			}
		}
	})
}
