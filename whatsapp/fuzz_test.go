package whatsapp_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/internal/metatest"
	"github.com/lunas-id/lunas/whatsapp"
)

// FuzzParse feeds Parse hostile bodies. Whatever the bytes: no panic; an
// error is one field error and no statuses; statuses carry what billing
// relies on; and every status survives a round trip through the envelope
// Meta would send for it (internal/metatest).
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./whatsapp/
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		deliveredRegular, failedExample, sentV23,
		one(`{"id":"wamid.U1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890","pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"utility"}}`),
		one(`{"id":"wamid.F1","status":"read","timestamp":"1751363800","recipient_id":"6281234567890","conversation":{"id":"8f84","origin":{"type":"referral_conversion"}},"pricing":{"billable":false,"pricing_model":"PMP","type":"free_entry_point","category":"referral_conversion"}}`),
		one(`{"id":"wamid.A1","status":"delivered","timestamp":1751363705,"recipient_id":"6281234567890","pricing":{"pricing_model":"PMP","type":"regular","category":"authentication-international"}}`),
		one(`{"id":"wamid.1","status":"failed","timestamp":"1","errors":[{"code":131049,"title":"a\u0000\u00e4\ud83d\ude00"}]}`),
		string(metatest.Envelope(
			metatest.Delivered("wamid.M", "+6281234567890", time.Unix(1751363705, 0), whatsapp.Regular, "marketing_lite"),
			metatest.Failed("wamid.N", "+6281234567891", time.Unix(1751363706, 0), 131026, "Message undeliverable"))),
		`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"statuses":"x"},"field":"message_template_status_update"}]}]}`,
		`{"object":"page","entry":[]}`, `[]`, `{`, `{"object":"whatsapp_business_account","entry":[[[[[]]]]]}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := whatsapp.Parse(body)
		if err != nil {
			var ve *lunas.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field == "" || got != nil {
				t.Fatalf("Parse error %v (%T) with %d statuses", err, err, len(got))
			}
			return
		}
		if len(got) > whatsapp.MaxStatuses {
			t.Fatalf("%d statuses", len(got))
		}
		for i, s := range got {
			if s.MessageID == "" || s.Status == "" || s.PhoneNumberID == "" || s.Timestamp.Unix() <= 0 || s.Timestamp.Location() != time.UTC {
				t.Fatalf("status %d lacks what billing needs: %+v", i, s)
			}
			if strings.ContainsAny(s.MessageID+s.PhoneNumberID+s.RecipientID+s.WABAID+string(s.Status), " \x00\n") {
				t.Fatalf("status %d holds spaces or control characters: %+v", i, s)
			}
			if s.Pricing != nil && (strings.Contains(string(s.Pricing.Category), "-") || strings.ToLower(string(s.Pricing.Category)) != string(s.Pricing.Category)) {
				t.Fatalf("category %q not normalised", s.Pricing.Category)
			}
			if strings.ContainsRune(s.ErrorTitle, 0) || len(s.ErrorTitle) > 512 {
				t.Fatalf("error title %q", s.ErrorTitle)
			}
			if i >= 20 {
				continue // the round trip of a few is enough per input
			}
			again, err := whatsapp.Parse(metatest.Envelope(s))
			want := s
			if want.WABAID == "" {
				want.WABAID = metatest.WABAID
			}
			if want.DisplayPhoneNumber == "" {
				want.DisplayPhoneNumber = metatest.DisplayPhoneNumber
			}
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], want) {
				t.Fatalf("round trip of %+v: %+v, %v", want, again, err)
			}
		}
	})
}

// BenchmarkParse1000 parses a batch of 1,000 statuses, Meta's largest.
func BenchmarkParse1000(b *testing.B) {
	ss := make([]whatsapp.Status, 1000)
	at := time.Unix(1751363705, 0)
	for i := range ss {
		ss[i] = metatest.Delivered("wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjRBQjU2QzdEOEU5RjAx"+strings.Repeat("x", i%7), "+6281234567890", at, whatsapp.Regular, "utility")
	}
	body := metatest.Envelope(ss...)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if got, err := whatsapp.Parse(body); err != nil || len(got) != 1000 {
			b.Fatal(len(got), err)
		}
	}
}
