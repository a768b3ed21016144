package invoice_test

import (
	"testing"
	"time"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/review"
	"github.com/lunas-id/lunas/tax"
)

// A buyer that withholds PPh 23 at confirm: its card attempt charges the
// fee on payable and pays the order in full; a rejected transfer whose
// items are corrected keeps the withholding on the new subtotal, and
// accepting it pays the new payable; a buyer that stops withholding after
// confirm changes nothing already issued. The books hold (paytest audits).
func TestWithholdingFollowsTheOrder(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	if _, _, err := e.Accounts.Put(e.Ctx, "acme", account.Input{Name: "PT Acme", Tax: &tax.Identity{IDType: tax.IDNPWP,
		ID: "0012345678901234", Name: "PT Acme Indonesia", Address: "Jl. Sudirman 1", WithholdsPPh23: true}}); err != nil {
		t.Fatal(err)
	}
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	if o.Withholding == nil || o.Withholding.Amount != 20_000 || o.Payable != 1_090_000 || o.Withholding.Status != order.WithholdingAwaitingSlip {
		t.Fatalf("confirmed: payable %d withholding %+v", o.Payable, o.Withholding)
	}
	a := e.Pay(o.ID, gateway.MethodCreditCard)
	// 3.5 % of 1,090,000 = 38,150.
	if a.Fee != 38_150 || a.Amount != 1_128_150 {
		t.Errorf("card attempt: fee %d amount %d", a.Fee, a.Amount)
	}
	e.Deliver(a.ID, "capture", "accept", nil)
	if got := e.Order(o.ID); got.Status != order.StatusPaid {
		t.Fatalf("card: %s", got.Status)
	}
	if f := e.Count(`SELECT count(*) FROM gateway_events WHERE flag IS NOT NULL`); f != 0 {
		t.Errorf("%d flagged events", f)
	}

	// Corrected after a rejection: the withholding follows the subtotal.
	o2 := e.Confirmed("acme", paytest.WA(1_000_000))
	png := lunastest.ProofPNG(t)
	if _, err := e.Reviews.SubmitProof(e.Ctx, o2.ID, review.ProofInput{File: png, Amount: o2.Payable, TransferredAt: e.Clock.Now().Add(-time.Minute),
		SenderBank: "BCA", SenderName: "PT Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Reviews.Review(e.Ctx, o2.ID, "finance:test", review.ReviewInput{Decision: review.Reject, Reason: "wrong amount"}); err != nil {
		t.Fatal(err)
	}
	// The buyer stops withholding: an issued order keeps what it was issued with.
	if _, _, err := e.Accounts.Put(e.Ctx, "acme", account.Input{Name: "PT Acme", Tax: &tax.Identity{IDType: tax.IDNPWP,
		ID: "0012345678901234", Name: "PT Acme Indonesia", Address: "Jl. Sudirman 1"}}); err != nil {
		t.Fatal(err)
	}
	p, err := e.Invoices.PatchOrder(e.Ctx, o2.ID, []order.ItemRequest{paytest.WA(2_000_000)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 2_220_000 || p.TaxBase != 1_833_333 || p.Withholding == nil || p.Withholding.Base != 2_000_000 || p.Withholding.Amount != 40_000 || p.Payable != 2_180_000 {
		t.Fatalf("re-priced: total %d tax base %d payable %d withholding %+v", p.Total, p.TaxBase, p.Payable, p.Withholding)
	}
	paid, err := e.Reviews.Review(e.Ctx, o2.ID, "finance:test", review.ReviewInput{Decision: review.Accept})
	if err != nil || paid.Status != order.StatusPaid {
		t.Fatalf("accept: %v", err)
	}
	for _, a := range e.Order(o2.ID).Payments {
		if a.Status == order.AttemptSucceeded && a.Amount != 2_180_000 {
			t.Errorf("paying transfer of %d, want payable 2,180,000", a.Amount)
		}
	}
	// A new order of the no-longer-withholding buyer has none.
	if o3 := e.Confirmed("acme", paytest.WA(1_000_000)); o3.Withholding != nil || o3.Payable != o3.Total {
		t.Errorf("after the buyer stopped withholding: %+v payable %d", o3.Withholding, o3.Payable)
	}
}
