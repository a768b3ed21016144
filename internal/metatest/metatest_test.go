package metatest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/whatsapp"
)

func TestEnvelopeIsMetaShaped(t *testing.T) {
	t.Parallel()
	at := time.Unix(1751363705, 0)
	got := string(Envelope(Delivered("wamid.HBgN1", "+6281234567890", at, whatsapp.Regular, tariff.AuthenticationInternational)))
	// Field for field in the order of Meta's status webhook reference.
	want := `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp",` +
		`"metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"statuses":[{"id":"wamid.HBgN1","status":"delivered","timestamp":"1751363705","recipient_id":"6281234567890",` +
		`"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"authentication-international"}}]},"field":"messages"}]}]}`
	if got != want {
		t.Errorf("envelope\n got %s\nwant %s", got, want)
	}
	failed := string(Envelope(Failed("wamid.X", "16505551234", at, 131049, "Gagal dikirim ke Bu Siti Ã„ 😀 <b>")))
	if wantPart := `"errors":[{"code":131049,"title":"Gagal dikirim ke Bu Siti \u00c3\u201e \ud83d\ude00 <b>","message":"Gagal dikirim ke Bu Siti \u00c3\u201e \ud83d\ude00 <b>",` +
		`"error_data":{"details":"Gagal dikirim ke Bu Siti \u00c3\u201e \ud83d\ude00 <b>"},"href":"/documentation/business-messaging/whatsapp/support/error-codes"}]`; !strings.Contains(failed, wantPart) {
		t.Errorf("failed envelope %s\nlacks %s", failed, wantPart)
	}
	fep := string(Envelope(Delivered("wamid.F", "6281234567890", at, whatsapp.FreeEntryPoint, "referral_conversion")))
	if !strings.Contains(fep, `"conversation":{"id":"fep36323831323334353637383930","origin":{"type":"referral_conversion"}},"pricing":{"billable":false,`) {
		t.Errorf("entry-point envelope %s", fep)
	}
}

// receiver is the smallest webhook endpoint: it checks the signature with
// whatsapp.Verify before parsing, as lunas does, and keeps what it parsed.
type receiver struct {
	secret []byte
	token  string
	mu     sync.Mutex
	got    []whatsapp.Status
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		c, ok := whatsapp.Handshake(r.URL.Query(), rc.token)
		if !ok {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, c)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, whatsapp.MaxBody+1))
	if !whatsapp.Verify(rc.secret, body, r.Header.Get(whatsapp.SignatureHeader)) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ss, err := whatsapp.Parse(body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, ss...)
	rc.mu.Unlock()
}

func TestRoundTripOverHTTP(t *testing.T) {
	t.Parallel()
	secret := []byte("test-app-secret")
	rc := &receiver{secret: secret, token: "verify-me"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ctx := context.Background()
	at := time.Date(2025, 7, 1, 9, 30, 0, 0, time.FixedZone("WIB", 7*3600))

	second := Delivered("wamid.B", "+12025550123", at, whatsapp.Regular, tariff.Utility)
	second.WABAID, second.PhoneNumberID, second.DisplayPhoneNumber = "999", "PN2", "6281100002222"
	sent := Sent("wamid.A", "+6281234567890", at)
	sent.Pricing = Priced(whatsapp.Regular, tariff.Marketing)
	want := []whatsapp.Status{
		sent,
		Delivered("wamid.C", "+6281234567890", at, whatsapp.FreeCustomerService, tariff.Utility),
		Delivered("wamid.D", "+6281234567890", at, whatsapp.FreeEntryPoint, "referral_conversion"),
		Delivered("wamid.E", "+6281234567890", at, whatsapp.Regular, tariff.MarketingLite),
		Delivered("wamid.F", "+6281234567890", at, whatsapp.Regular, tariff.AuthenticationInternational),
		Read("wamid.A", "+6281234567890", at.Add(time.Minute)),
		Failed("wamid.G", "+6281234567890", at, 131049, "Tidak terkirim — ekosistem"),
		second,
	}
	code, err := New(secret).Post(ctx, srv.URL, want...)
	if err != nil || code != http.StatusOK {
		t.Fatalf("Post = %d, %v", code, err)
	}
	// Envelope groups by WABA and number, so the second WABA's status comes last: as put.
	if !reflect.DeepEqual(rc.got, want) {
		t.Errorf("received\n%+v\nwant\n%+v", rc.got, want)
	}

	// A body signed with another secret, or not at all, is refused.
	body := Envelope(want[0])
	if code, _ := New([]byte("other")).Send(ctx, srv.URL, body); code != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", code)
	}
	if code, _ := New(secret).SendSigned(ctx, srv.URL, body, ""); code != http.StatusUnauthorized {
		t.Errorf("no signature: %d", code)
	}
	if n := len(rc.got); n != len(want) {
		t.Errorf("%d statuses kept after refused posts; want %d", n, len(want))
	}

	// The handshake.
	if code, body, err := Handshake(ctx, srv.URL+"/webhooks/whatsapp?x=1", "verify-me", "1158201444"); err != nil || code != 200 || body != "1158201444" {
		t.Errorf("handshake = %d %q %v", code, body, err)
	}
	if code, _, err := Handshake(ctx, srv.URL, "wrong", "1158201444"); err != nil || code != http.StatusForbidden {
		t.Errorf("handshake with a wrong token = %d %v", code, err)
	}
}
