package subscription_test

import (
	"testing"

	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/tax"
)

// A subscription invoice issued to a buyer that withholds PPh 23 carries
// the DPP nilai lain lines and the withholding from its issue, and its VA
// charges payable and pays it in full (the books hold: paytest audits).
func TestSubscriptionInvoiceOfAWithholdingBuyer(t *testing.T) {
	e, subs := setup(t)
	if _, _, err := e.Accounts.Put(e.Ctx, "isp", account.Input{Name: "PT ISP", Tax: &tax.Identity{IDType: tax.IDNPWP,
		ID: "0012345678901234", Name: "PT ISP Nusantara", Address: "Jl. Sudirman 1", WithholdsPPh23: true}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(at(t, "2026-11-22 10:00:00"))
	x := create(t, e, subs, "2026-12-20")
	if n := issue(t, e, subs, "2026-12-15 00:00:00"); n != 1 {
		t.Fatalf("issued %d", n)
	}
	var id string
	if err := e.Pool.QueryRow(e.Ctx, `SELECT id FROM orders WHERE subscription_id = $1`, x.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	o := e.Order(id)
	// 250,000: DPP 229,167 (229,166.67), PPN 12 % 27,500 (27,500.04), PPh 23 2 % 5,000.
	if o.Subtotal != 250_000 || o.TaxBase != 229_167 || o.VAT != 27_500 || o.Total != 277_500 ||
		o.Withholding == nil || o.Withholding.Amount != 5_000 || o.Payable != 272_500 {
		t.Fatalf("subscription invoice: tax base %d vat %d total %d payable %d withholding %+v", o.TaxBase, o.VAT, o.Total, o.Payable, o.Withholding)
	}
	a := e.Pay(id, gateway.MethodBCAVA)
	if a.Amount != 272_500 {
		t.Errorf("VA of %d, want payable 272,500", a.Amount)
	}
	e.Deliver(a.ID, "settlement", "", nil)
	if o := e.Order(id); o.Status != order.StatusPaid || o.Withholding.Status != order.WithholdingAwaitingSlip {
		t.Errorf("after the VA: %s, withholding %+v", o.Status, o.Withholding)
	}
}
