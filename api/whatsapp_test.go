package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/api"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/metatest"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/tariff"
	"github.com/lunas-id/lunas/usage"
	"github.com/lunas-id/lunas/whatsapp"
)

const waSecret, waVerify = "meta-app-secret", "meta-verify-token"

func waServer(t *testing.T) (*httptest.Server, *store.DB) {
	srv, pool, _ := waServerUsage(t)
	return srv, pool
}

func waServerUsage(t *testing.T) (*httptest.Server, *store.DB, *usage.Service) {
	t.Helper()
	pool, _ := lunastest.Pool(t)
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	u := usage.New(usage.Options{Pool: pool, Clock: clock.Wall{}, Prices: tariff.MustParse(tariff.Default), Location: jkt, Logger: lunastest.Logger()})
	h := api.New(api.Options{Pool: pool, Accounts: account.New(pool, clock.Wall{}, lunastest.Logger()), Usage: u,
		Tokens: map[string]string{appTok: "app", finTok: "finance"}, Location: jkt, Logger: lunastest.Logger(),
		Database: pinger{}, Redis: pinger{}, WAAppSecret: waSecret, WAVerifyToken: waVerify})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	checked(t, srv)
	return srv, pool, u
}

func TestWhatsAppWebhookSignatureAndHandshake(t *testing.T) {
	srv, pool := waServer(t)
	ctx := context.Background()
	meta := metatest.New([]byte(waSecret))
	body := metatest.Envelope(metatest.Delivered("wamid.S", "+6281234567890", time.Now(), whatsapp.Regular, "marketing"))
	inbox := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM wa_status_inbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Bad and missing signatures: 401, nothing kept.
	for _, sig := range []string{"", "sha256=" + strings.Repeat("0", 64), metatest.New([]byte("another secret")).Signature(body)} {
		code, _, _ := do(t, srv, "POST", "/webhooks/whatsapp", "", body, "X-Hub-Signature-256", sig)
		if code != http.StatusUnauthorized {
			t.Errorf("signature %q: %d, want 401", sig, code)
		}
	}
	if n := inbox(); n != 0 {
		t.Fatalf("%d bodies kept after refused signatures", n)
	}
	// Signed as Meta signs: recorded.
	code, b, _ := do(t, srv, "POST", "/webhooks/whatsapp", "", body, "X-Hub-Signature-256", meta.Signature(body))
	if code != http.StatusOK || inbox() != 1 {
		t.Fatalf("signed: %d %s, %d kept", code, b, inbox())
	}
	// The handshake: the challenge back when the token matches.
	code, text, err := metatest.Handshake(ctx, srv.URL+"/webhooks/whatsapp", waVerify, "1158201444")
	if err != nil || code != 200 || text != "1158201444" {
		t.Errorf("handshake: %d %q %v", code, text, err)
	}
	if code, _, _ := metatest.Handshake(ctx, srv.URL+"/webhooks/whatsapp", "wrong", "1158201444"); code != http.StatusForbidden {
		t.Errorf("handshake with a wrong token: %d, want 403", code)
	}
}

func TestRateCardsAndAccountPriceList(t *testing.T) {
	srv, _ := waServer(t)
	card := `{"price_list": "standard", "effective_from": "2025-07-01T00:00:00+07:00", "model": "message",
		"rates": [{"market": "62", "category": "marketing", "price": 586}, {"market": "62", "category": "utility", "price": 356}]}`
	if code, b, _ := do(t, srv, "PUT", "/v1/wa-rate-cards/std-2025-07", finTok, []byte(card)); code != 201 {
		t.Fatalf("put card: %d %s", code, b)
	}
	if code, b, _ := do(t, srv, "PUT", "/v1/wa-rate-cards/std-2025-07", finTok, []byte(card)); code != 200 {
		t.Fatalf("same card again: %d %s", code, b)
	}
	if code, _, _ := do(t, srv, "PUT", "/v1/wa-rate-cards/std-2025-07", appTok, []byte(card)); code != 403 {
		t.Errorf("the app puts a card: %d, want 403", code)
	}
	if code, b, _ := do(t, srv, "PUT", "/v1/wa-rate-cards/bad", finTok, []byte(`{"model": "per-kilo", "rates": []}`)); code != 400 {
		t.Errorf("bad card: %d %s", code, b)
	}
	code, b, _ := do(t, srv, "GET", "/v1/wa-rate-cards", finTok, nil)
	var list struct {
		Data []struct {
			ID     string `json:"id"`
			Priced bool   `json:"priced"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || len(list.Data) != 1 || list.Data[0].ID != "std-2025-07" {
		t.Fatalf("list: %d %s", code, b)
	}
	acct := `{"name": "Acme", "wa_price_list": "standard", "whatsapp_phone_number_ids": ["106540352242922"]}`
	if code, b, _ := do(t, srv, "PUT", "/v1/accounts/acme", appTok, []byte(acct)); code != 201 || !strings.Contains(string(b), `"wa_price_list":"standard"`) {
		t.Fatalf("account: %d %s", code, b)
	}
	// One phone-number id bills one account.
	if code, b, _ := do(t, srv, "PUT", "/v1/accounts/other", appTok, []byte(`{"name": "Other", "whatsapp_phone_number_ids": ["106540352242922"]}`)); code != 409 {
		t.Errorf("another account's number: %d %s", code, b)
	}
	// Priced once, the card no longer changes.
	if code, b, _ := do(t, srv, "POST", "/v1/accounts/acme/usage", appTok, []byte(`{"events": [{"id": "wamid.1", "kind": "inbound", "recipient": "+6281234567890", "at": "2026-11-22T15:00:00+07:00"},
		{"id": "wamid.2", "kind": "send", "recipient": "+6281234567890", "category": "utility", "at": "2026-11-22T15:01:00+07:00"}]}`)); code != 200 ||
		!strings.Contains(string(b), `"pricing_type":"free_customer_service"`) {
		t.Fatalf("usage: %d %s", code, b)
	}
	changed := strings.Replace(card, "586", "590", 1)
	if code, b, _ := do(t, srv, "PUT", "/v1/wa-rate-cards/std-2025-07", finTok, []byte(changed)); code != 409 {
		t.Errorf("changing a priced card: %d %s", code, b)
	}
}

// A status of a number no account lists is kept, charged to no one, and
// listed for finance.
func TestUnknownPhoneNumberListedForFinance(t *testing.T) {
	srv, pool, u := waServerUsage(t)
	ctx := context.Background()
	st := metatest.Delivered("wamid.N", "+6281234567890", time.Now(), whatsapp.Regular, "marketing")
	st.PhoneNumberID = "999000111"
	body := metatest.Envelope(st)
	if code, b, _ := do(t, srv, "POST", "/webhooks/whatsapp", "", body, "X-Hub-Signature-256", metatest.New([]byte(waSecret)).Signature(body)); code != 200 {
		t.Fatalf("webhook: %d %s", code, b)
	}
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM wa_status_inbox`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := u.RateInbox(ctx, id, ""); err != nil { // the worker's task
		t.Fatal(err)
	}
	code, b, _ := do(t, srv, "GET", "/v1/wa-statuses?flag=unknown_phone_number", finTok, nil)
	var list struct {
		Data []struct {
			MessageID     string  `json:"message_id"`
			PhoneNumberID string  `json:"phone_number_id"`
			Flag          string  `json:"flag"`
			AccountID     *string `json:"account_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &list); code != 200 || err != nil || len(list.Data) != 1 || list.Data[0].AccountID != nil ||
		list.Data[0].Flag != "unknown_phone_number" || list.Data[0].MessageID != "wamid.N" || list.Data[0].PhoneNumberID != "999000111" {
		t.Fatalf("flagged: %d %s", code, b)
	}
	if code, _, _ := do(t, srv, "GET", "/v1/wa-statuses?flag=nope", finTok, nil); code != 400 {
		t.Errorf("unknown flag: %d", code)
	}
}
