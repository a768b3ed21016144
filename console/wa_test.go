package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lunas-id/lunas/account"
)

// The account page shows the account's WhatsApp price list, its Meta
// phone-number ids and the list's rate cards, read-only.
func TestAccountPageShowsPriceListAndCards(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.inReview("acme", "sari@acme.example", 1000000, receipt(t))
	ctx := context.Background()
	list, ids := "standard", []string{"106540352242922"}
	if _, _, err := e.accounts.Put(ctx, "acme", account.Input{Name: "Acme", WAPriceList: &list, WhatsAppPhoneNumberIDs: &ids}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.usage.PutCard(ctx, "std-2026-11", []byte(`{"price_list": "standard", "effective_from": "2026-11-01T00:00:00+07:00",
		"model": "message", "rates": [{"market": "62", "category": "utility", "price": 356, "tiers": [{"from": 1, "price": 356}, {"from": 100001, "price": 320}]}]}`)); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.mustSignIn()
	res, body := c.get("/console/accounts/acme")
	if res.StatusCode != 200 {
		t.Fatalf("%d", res.StatusCode)
	}
	for _, want := range []string{`id="wa-price-list">standard<`, "106540352242922", "std-2026-11", "62 utility Rp356 (≥1: Rp356) (≥100.001: Rp320)"} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Contains(body, `action="/console/wa-rate-cards`) {
		t.Error("the cards are read-only on the console")
	}
}
