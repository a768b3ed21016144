package review_test

import (
	"sync"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/paytest"
	"github.com/lunas-id/lunas/invoice"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/review"
)

func proof(e *paytest.Env, orderID string, amount int64) (*order.Order, error) {
	return e.Reviews.SubmitProof(e.Ctx, orderID, review.ProofInput{File: lunastest.ProofPNG(e.T), Amount: amount,
		TransferredAt: e.Clock.Now().Add(-time.Minute), SenderBank: "BCA", SenderName: "Sari Dewi"})
}

func TestManualTransferAcceptCreditsOnce(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	a := e.Pay(o.ID, gateway.MethodManualTransfer)
	if a.Details["bank_account"] == nil || a.Details["reference"] != *o.InvoiceNumber {
		t.Fatalf("manual attempt details %v", a.Details)
	}
	got, err := proof(e, o.ID, 1_110_000)
	if err != nil || got.Status != order.StatusInReview {
		t.Fatalf("proof: %v %v", got, err)
	}
	// Two finance clicks at once: one decision.
	var wg sync.WaitGroup
	oks := make(chan bool, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Reviews.Review(e.Ctx, o.ID, "finance:abcd", review.ReviewInput{Decision: "accept"})
			oks <- err == nil
		}()
	}
	wg.Wait()
	close(oks)
	n := 0
	for ok := range oks {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d accepts succeeded, want 1 (the other is 409)", n)
	}
	got = e.Order(o.ID)
	if got.Status != order.StatusPaid || got.Payments[0].Method != gateway.MethodManualTransfer || got.Payments[0].Status != order.AttemptSucceeded {
		t.Fatalf("order %s payments %+v", got.Status, got.Payments)
	}
	cached, derived := e.Balances("acme")
	if cached.WABalance != 1_000_000 || cached != derived {
		t.Errorf("balances %+v derived %+v", cached, derived)
	}
	if n := e.Count(`SELECT count(*) FROM reviews WHERE order_id = $1 AND actor = 'finance:abcd' AND decision = 'accept'`, o.ID); n != 1 {
		t.Errorf("review records = %d", n)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'confirmation'`, o.ID); n != 1 {
		t.Errorf("confirmation mails = %d", n)
	}
}

func TestRejectCorrectAccept(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	if _, err := proof(e, o.ID, 2_220_000); err != nil {
		t.Fatal(err)
	}
	got, err := e.Reviews.Review(e.Ctx, o.ID, "finance:abcd", review.ReviewInput{Decision: "reject", Reason: "transfer was Rp2.220.000, invoice is Rp1.110.000"})
	if err != nil || got.Status != order.StatusRejected {
		t.Fatalf("reject: %v %v", got, err)
	}
	if n := e.Count(`SELECT count(*) FROM mails WHERE order_id = $1 AND kind = 'rejection' AND reason LIKE 'transfer was%'`, o.ID); n != 1 {
		t.Errorf("rejection mails = %d", n)
	}
	// The customer corrects the order to what they transferred: back in review, no new order.
	got, err = e.Invoices.PatchOrder(e.Ctx, o.ID, []order.ItemRequest{paytest.WA(2_000_000)})
	if err != nil || got.Status != order.StatusInReview || got.Total != 2_220_000 {
		t.Fatalf("patch rejected: %+v %v", got, err)
	}
	if _, err := e.Reviews.Review(e.Ctx, o.ID, "finance:abcd", review.ReviewInput{Decision: "accept"}); err != nil {
		t.Fatal(err)
	}
	cached, derived := e.Balances("acme")
	if cached.WABalance != 2_000_000 || cached != derived {
		t.Errorf("balances %+v derived %+v, want one credit of the corrected 2,000,000", cached, derived)
	}
	if n := e.Count(`SELECT count(*) FROM ledger_postings WHERE order_id = $1`, o.ID); n != 1 {
		t.Errorf("postings = %d", n)
	}
}

func TestReviewDeadline(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	if _, err := proof(e, o.ID, 1_110_000); err != nil {
		t.Fatal(err)
	}
	start := e.Clock.Now()
	e.Clock.Set(start.Add(review.ReviewLifetime - time.Second))
	if _, err := e.Reviews.RejectStale(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Order(o.ID); got.Status != order.StatusInReview {
		t.Fatalf("at 24 h - 1 s: %s", got.Status)
	}
	e.Clock.Set(start.Add(review.ReviewLifetime + time.Second))
	// Accept races the deadline sweep: exactly one of the two outcomes.
	var wg sync.WaitGroup
	var reviewErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, reviewErr = e.Reviews.Review(e.Ctx, o.ID, "finance:abcd", review.ReviewInput{Decision: "accept"})
	}()
	go func() { defer wg.Done(); _, _ = e.Reviews.RejectStale(e.Ctx) }()
	wg.Wait()
	got := e.Order(o.ID)
	cached, _ := e.Balances("acme")
	switch got.Status {
	case order.StatusPaid:
		if reviewErr != nil || cached.WABalance != 1_000_000 {
			t.Errorf("paid but review err %v, balance %d", reviewErr, cached.WABalance)
		}
	case order.StatusRejected:
		if lunas.KindOf(reviewErr) != lunas.KindConflict || cached.WABalance != 0 || *got.StatusReason != review.ReasonNotInTime {
			t.Errorf("rejected but review err %v, balance %d, reason %v", reviewErr, cached.WABalance, got.StatusReason)
		}
	default:
		t.Fatalf("status %s", got.Status)
	}
	// Whichever won, a second sweep changes nothing.
	if _, err := e.Reviews.RejectStale(e.Ctx); err != nil {
		t.Fatal(err)
	}
	if again := e.Order(o.ID); again.Status != got.Status {
		t.Errorf("status moved from %s to %s", got.Status, again.Status)
	}
	// Cancel from rejected.
	if got.Status == order.StatusRejected {
		if c, err := e.Invoices.Cancel(e.Ctx, o.ID); err != nil || c.Status != order.StatusCancelled {
			t.Errorf("cancel rejected: %v %v", c, err)
		}
	}
}

func TestProofRefusals(t *testing.T) {
	t.Parallel()
	e := paytest.New(t)
	e.Account("acme")
	o := e.Confirmed("acme", paytest.WA(1_000_000))
	cases := []struct {
		name string
		file []byte
		kind lunas.Kind
	}{
		{"HTML renamed .png", []byte("<html><script>alert(1)</script></html>"), lunas.KindInvalid},
		{"6 MiB", append(lunastest.ProofPNG(t), make([]byte, 6<<20)...), lunas.KindTooLarge},
		{"empty", nil, lunas.KindInvalid},
	}
	for _, tc := range cases {
		_, err := e.Reviews.SubmitProof(e.Ctx, o.ID, review.ProofInput{File: tc.file, Amount: 1, TransferredAt: e.Clock.Now(), SenderBank: "BCA", SenderName: "S"})
		if lunas.KindOf(err) != tc.kind {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	draft, _ := e.Invoices.CreateOrder(e.Ctx, invoice.CreateInput{AccountID: "acme", Requester: order.Requester{Name: "A", Email: "a@acme.example"}, Items: []order.ItemRequest{paytest.WA(1)}})
	if _, err := proof(e, draft.ID, 1); lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("proof for a draft: %v", err)
	}
	if n := e.Count(`SELECT count(*) FROM proofs`); n != 0 {
		t.Errorf("%d proofs stored, want none", n)
	}
}
