package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/metatest"
	"github.com/lunas-id/lunas/whatsapp"
)

// TestWhatsAppStatusWebhookEndToEnd: Meta's signed status webhook into
// `lunas all`'s serve side, through the inbox and outbox, rated by the
// worker: a send trued up to Meta's category, an unreported message owed
// beyond the balance, the same webhook three times billed once, a forged
// one refused with nothing kept; then the books hold.
func TestWhatsAppStatusWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	const secret = "e2e-meta-app-secret"
	s := startStack(t, stackOptions{workers: 1, env: map[string]string{"LUNAS_WA_APP_SECRET": secret, "LUNAS_WA_VERIFY_TOKEN": "e2e"}})
	s.setClock("2026-11-22T10:00:00+07:00")
	card := map[string]any{"price_list": "standard", "effective_from": "2026-11-01T00:00:00+07:00", "model": "message",
		"rates": []map[string]any{{"market": "62", "category": "marketing", "price": 586}, {"market": "62", "category": "utility", "price": 356}}}
	if code := s.call("PUT", "/v1/wa-rate-cards/std-2026-11", financeToken, card, nil); code != 201 {
		t.Fatalf("put card: %d", code)
	}
	if code := s.call("PUT", "/v1/accounts/acme", appToken, map[string]any{"name": "Acme", "wa_price_list": "standard",
		"whatsapp_phone_number_ids": []string{metatest.PhoneNumberID}}, nil); code != 201 {
		t.Fatalf("put account: %d", code)
	}
	if code := s.call("POST", "/v1/accounts/acme/adjustments", financeToken, map[string]any{"product": "wa_balance", "kind": "refund",
		"amount": 1000, "reason": "e2e funding"}, nil); code != 201 {
		t.Fatalf("fund: %d", code)
	}
	var ans usageAnswer
	if code := s.call("POST", "/v1/accounts/acme/usage", appToken, map[string]any{"events": []map[string]string{{"id": "wamid.E1", "kind": "send",
		"recipient": "+6281234567890", "category": "marketing", "at": "2026-11-22T10:00:00+07:00"}}}, &ans); code != 200 || ans.Balances.WABalance != 414 {
		t.Fatalf("send: %d %+v", code, ans)
	}
	ctx := context.Background()
	meta := metatest.New([]byte(secret))
	when := time.Date(2026, 11, 22, 3, 1, 0, 0, time.UTC)
	body := metatest.Envelope(
		metatest.Delivered("wamid.E1", "+6281234567890", when, whatsapp.Regular, "utility"),   // 586 → 356
		metatest.Delivered("wamid.E2", "+6281234567891", when, whatsapp.Regular, "marketing"), // never reported: 586, owed beyond the balance
	)
	for range 3 {
		if code, err := meta.Send(ctx, s.base+"/webhooks/whatsapp", body); err != nil || code != 200 {
			t.Fatalf("webhook: %d %v", code, err)
		}
	}
	if code, err := meta.SendSigned(ctx, s.base+"/webhooks/whatsapp", body, "sha256="+strings.Repeat("ab", 32)); err != nil || code != 401 {
		t.Errorf("forged webhook: %d %v", code, err)
	}
	// 1,000 − 586 + (586 − 356) = 644 after E1's true-up covers E2's 586:
	// 58 left, nothing owed, whichever of the three deliveries came first.
	lunastest.Eventually(t, 20*time.Second, "statuses rated", func() bool {
		return s.count(`SELECT count(*) FROM wa_status_inbox WHERE processed_at IS NOT NULL`) == 3
	})
	if b := s.balances("acme"); b.Balances.WABalance != 58 || b.Balances.Outstanding != 0 {
		t.Errorf("balances %+v, want 58 and nothing outstanding", b.Balances)
	}
	if n := s.count(`SELECT count(*) FROM wa_status_inbox`); n != 3 {
		t.Errorf("%d bodies kept, want the 3 signed deliveries", n)
	}
	// Another unreported message now goes beyond the balance.
	if code, err := meta.Post(ctx, s.base+"/webhooks/whatsapp", metatest.Delivered("wamid.E3", "+6281234567892", when, whatsapp.Regular, "marketing")); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	lunastest.Eventually(t, 20*time.Second, "owed beyond the balance", func() bool {
		b := s.balances("acme")
		return b.Balances.WABalance == 0 && b.Balances.Outstanding == 528
	})
	rep, err := audit.Run(ctx, s.pool)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.Print(&b)
		t.Errorf("audit:\n%s", b.String())
	}
}
