package review_test

import (
	"testing"

	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/webhook"
)

// A proof upload tells the app twice over: order.in_review (the status)
// and order.proof_received (API.md's wave-3 event), in the upload's
// transaction.
func TestProofUploadEmitsProofReceived(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	sealer, err := webhook.NewSealer("review test key")
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.NewService(e.Pool, e.Clock, sealer, webhook.Policy{}, lunastest.Logger())
	if _, err := hooks.Create(e.Ctx, webhook.EndpointInput{URL: "http://127.0.0.1:9/hook", Events: []string{webhook.OrderProofReceived}}); err != nil {
		t.Fatal(err)
	}
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	e.Pay(o.ID, gateway.MethodManualTransfer)
	if _, err := proof(e, o.ID, 1_110_000); err != nil {
		t.Fatal(err)
	}
	if n := e.Count(`SELECT count(*) FROM webhook_events WHERE type = $1 AND subject = $2`, webhook.OrderProofReceived, o.ID); n != 1 {
		t.Errorf("%d order.proof_received events, want 1", n)
	}
}
