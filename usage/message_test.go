package usage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/account"
	"github.com/lunas-id/lunas/audit"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/internal/metatest"
	"github.com/lunas-id/lunas/webhook"
	"github.com/lunas-id/lunas/whatsapp"
)

// The message card of the tests: API.md's example, with utility tiers that
// fall from the 3rd billed message of a month so a test reaches them.
const messageCard = `{"price_list": "standard", "effective_from": "2026-11-22T16:00:00+07:00", "model": "message",
 "rates": [{"market": "62", "category": "marketing", "price": 586},
           {"market": "62", "category": "utility", "price": 356, "tiers": [{"from": 1, "price": 356}, {"from": 3, "price": 320}]},
           {"market": "62", "category": "authentication", "price": 356},
           {"market": "62", "category": "service", "price": 0},
           {"market": "*",  "category": "marketing", "price": 1100}],
 "free": {"utility_in_service_window": true, "entry_point_hours": 72}}`

const rcpt = "+6281234567890"

// messageFixture is an account on price list "standard" with the message
// card in force from t0 + 1 h, billed for Meta's test phone-number id.
func messageFixture(t *testing.T, wa int64) *fixture {
	t.Helper()
	f := newFixture(t)
	f.account("acme", wa, 0)
	list, ids := "standard", []string{metatest.PhoneNumberID}
	if _, _, err := account.New(f.pool, f.clock, lunastest.Logger()).Put(context.Background(), "acme",
		account.Input{Name: "Acme", WAPriceList: &list, WhatsAppPhoneNumberIDs: &ids}); err != nil {
		t.Fatal(err)
	}
	if _, created, err := f.svc.PutCard(context.Background(), "std-2026-11", []byte(messageCard)); err != nil || !created {
		t.Fatalf("put card: created %v, %v", created, err)
	}
	return f
}

// webhook delivers statuses the way Meta sends them: the signed envelope
// recorded in the inbox, then rated by the worker's task.
func (f *fixture) webhook(sts ...whatsapp.Status) {
	f.t.Helper()
	f.deliver(metatest.Envelope(sts...))
}

func (f *fixture) deliver(body []byte) {
	f.t.Helper()
	ctx := context.Background()
	id, err := f.svc.RecordStatuses(ctx, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.svc.RateInbox(ctx, id, ""); err != nil {
		f.t.Fatal(err)
	}
}

// audited fails the test unless lunas audit's rules on usage hold.
func (f *fixture) audited() {
	f.t.Helper()
	rep, err := audit.Run(context.Background(), f.pool)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if (c.Name == "balances" || c.Name == "postings_have_a_source") && (c.Failed != 0 || c.Checked == 0) {
			var b strings.Builder
			rep.Print(&b)
			f.t.Errorf("audit %s: %d of %d failed\n%s", c.Name, c.Failed, c.Checked, b.String())
		}
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSwitchFromConversationToMessageCardAtItsInstant(t *testing.T) {
	f := messageFixture(t, 10_000)
	b := f.record("acme", false,
		send("c1", rcpt, "marketing", at(t0, 59*time.Minute)), // conversation (LUNAS_WA_PRICES): 600, opens a window
		send("c2", rcpt, "marketing", at(t0, 61*time.Minute)), // message card: every send is charged, 586
		send("c3", rcpt, "marketing", at(t0, 62*time.Minute)),
		send("c4", "+14155550100", "marketing", at(t0, 63*time.Minute)), // "*" market
	)
	expect(t, b.Results[0], Charged, 600)
	expect(t, b.Results[1], Charged, 586)
	expect(t, b.Results[2], Charged, 586)
	expect(t, b.Results[3], Charged, 1100)
	if b.Results[1].WindowEndsAt != nil {
		t.Errorf("a message card opens no conversation window: %v", b.Results[1].WindowEndsAt)
	}
	if got := f.balances("acme").WABalance; got != 10_000-600-586-586-1100 {
		t.Errorf("balance %d", got)
	}
	// Idempotent by (id, kind) under a message card too.
	b = f.record("acme", false, send("c2", rcpt, "marketing", at(t0, 61*time.Minute)))
	if !b.Results[0].Replayed || b.Results[0].Amount != 586 || b.Balances.WABalance != 10_000-600-586-586-1100 {
		t.Errorf("replay: %+v, balance %d", b.Results[0], b.Balances.WABalance)
	}
	// The card priced events: it no longer changes; the same body is fine.
	if _, created, err := f.svc.PutCard(context.Background(), "std-2026-11", []byte(messageCard)); err != nil || created {
		t.Errorf("same body again: created %v, %v", created, err)
	}
	_, _, err := f.svc.PutCard(context.Background(), "std-2026-11", []byte(strings.Replace(messageCard, "586", "590", 1)))
	var le *lunas.Error
	if !errors.As(err, &le) || le.Kind != lunas.KindConflict {
		t.Errorf("changing a card that priced events: %v, want a conflict", err)
	}
	sum, err := f.svc.Summary(context.Background(), "acme", ts(t0).Add(-time.Hour), ts(t0).Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if m := sum.Categories["marketing"]; m.Conversations != 1 || m.Messages != 3 || m.Amount != 600+586+586+1100 {
		t.Errorf("summary %+v", m)
	}
	f.audited()
}

func TestUtilityFreeInServiceWindowAndEntryPointWindow(t *testing.T) {
	f := messageFixture(t, 10_000)
	other := "+6285700000001"
	b := f.record("acme", false,
		EventInput{ID: "in1", Kind: KindInbound, Recipient: rcpt, At: at(t0, 2*time.Hour)},
		send("u1", rcpt, "utility", at(t0, 3*time.Hour)),   // in the service window: free
		send("m1", rcpt, "marketing", at(t0, 3*time.Hour)), // marketing is not: charged
		send("u2", rcpt, "utility", at(t0, 27*time.Hour)),  // window closed: charged
		EventInput{ID: "in2", Kind: KindInbound, Recipient: other, At: at(t0, 2*time.Hour), EntryPoint: true},
		send("m2", other, "marketing", at(t0, 50*time.Hour)),                            // in the 72 h entry-point window: free
		send("m3", other, "marketing", at(t0, 75*time.Hour)),                            // after it: charged
		EventInput{ID: "r1", Kind: KindReply, Recipient: rcpt, At: at(t0, 3*time.Hour)}, // service price 0
	)
	expect(t, b.Results[1], Free, 0)
	if b.Results[1].PricingType != TypeFreeCustomerService {
		t.Errorf("u1 pricing type %q", b.Results[1].PricingType)
	}
	expect(t, b.Results[2], Charged, 586)
	expect(t, b.Results[3], Charged, 356)
	if b.Results[4].EntryPointEndsAt == nil || !b.Results[4].EntryPointEndsAt.Equal(ts(t0).Add(74*time.Hour)) {
		t.Errorf("entry-point window ends %v", b.Results[4].EntryPointEndsAt)
	}
	expect(t, b.Results[5], Free, 0)
	if b.Results[5].PricingType != TypeFreeEntryPoint {
		t.Errorf("m2 pricing type %q", b.Results[5].PricingType)
	}
	expect(t, b.Results[6], Charged, 586)
	expect(t, b.Results[7], Free, 0)
	sum, err := f.svc.Summary(context.Background(), "acme", ts(t0), ts(t0).Add(100*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if u := sum.Categories["utility"]; u.Messages != 1 || u.Free[TypeFreeCustomerService] != 1 {
		t.Errorf("utility summary %+v", u)
	}
	if m := sum.Categories["marketing"]; m.Messages != 2 || m.Free[TypeFreeEntryPoint] != 1 {
		t.Errorf("marketing summary %+v", m)
	}
	f.audited()
}

func TestStatusTrueUpsFreeReclassifiedAndFailed(t *testing.T) {
	f := messageFixture(t, 10_000)
	when := ts(t0).Add(2 * time.Hour)
	b := f.record("acme", false,
		send("wamid.A", rcpt, "utility", at(t0, 2*time.Hour)),
		send("wamid.B", rcpt, "marketing", at(t0, 2*time.Hour)),
		send("wamid.C", rcpt, "marketing", at(t0, 2*time.Hour)),
	)
	expect(t, b.Results[0], Charged, 356)
	expect(t, b.Results[1], Charged, 586)
	expect(t, b.Results[2], Charged, 586)
	if got := f.balances("acme").WABalance; got != 10_000-356-586-586 {
		t.Fatalf("balance %d", got)
	}
	f.webhook(
		// A: Meta saw the user's window the app did not report: free.
		metatest.Sent("wamid.A", rcpt, when), metatest.Delivered("wamid.A", rcpt, when.Add(time.Second), whatsapp.FreeCustomerService, "utility"),
		// B: Meta classed the marketing template as utility: 356, not 586.
		metatest.Delivered("wamid.B", rcpt, when.Add(time.Second), whatsapp.Regular, "utility"),
		// C: never delivered.
		metatest.Failed("wamid.C", rcpt, when.Add(time.Second), 131026, "Message undeliverable"),
	)
	if got := f.balances("acme").WABalance; got != 10_000-356 {
		t.Errorf("balance %d, want %d (only B at utility's price stands)", got, 10_000-356)
	}
	// The app's own failed for C afterwards is a replay of Meta's.
	b = f.record("acme", false, EventInput{ID: "wamid.C", Kind: KindFailed, At: at(t0, 3*time.Hour)})
	if !b.Results[0].Replayed || b.Results[0].Outcome != Refunded {
		t.Errorf("app's failed after Meta's: %+v", b.Results[0])
	}
	sum, err := f.svc.Summary(context.Background(), "acme", ts(t0), ts(t0).Add(10*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if u := sum.Categories["utility"]; u.Messages != 1 || u.Amount != 356 || u.Free[TypeFreeCustomerService] != 1 {
		t.Errorf("utility summary %+v", u)
	}
	if m := sum.Categories["marketing"]; m.Messages != 0 || m.Amount != 0 {
		t.Errorf("marketing summary %+v", m)
	}
	// A free, B 586 → 356 (C failed: no status settled it).
	if sum.Meta != (MetaCorrections{Corrected: 2, Correction: -356 - 230}) {
		t.Errorf("Meta's corrections %+v", sum.Meta)
	}
	f.audited()
}

func TestUnreportedMessageOwedBeyondBalanceThenPaidByTopUp(t *testing.T) {
	f := messageFixture(t, 100)
	// The app listens for usage.owed (API.md's wave-3 event).
	sealer, err := webhook.NewSealer("usage test key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.NewService(f.pool, f.clock, sealer, webhook.Policy{}, lunastest.Logger()).Create(context.Background(),
		webhook.EndpointInput{URL: "http://127.0.0.1:9/hook", Events: []string{webhook.UsageOwed}}); err != nil {
		t.Fatal(err)
	}
	when := ts(t0).Add(2 * time.Hour)
	f.webhook(metatest.Sent("wamid.X", rcpt, when), metatest.Delivered("wamid.X", rcpt, when, whatsapp.Regular, "marketing"),
		metatest.Read("wamid.X", rcpt, when.Add(time.Minute)))
	b := f.balances("acme")
	if b.WABalance != 0 || b.Outstanding != 486 {
		t.Fatalf("balances %+v, want 0 and 486 outstanding", b)
	}
	var owed, outstanding int64
	if err := f.pool.QueryRow(context.Background(), `SELECT (snapshot->>'owed')::bigint, (snapshot->>'outstanding')::bigint FROM webhook_events
		WHERE type = 'usage.owed' AND subject = 'acme'`).Scan(&owed, &outstanding); err != nil || owed != outstanding || outstanding != 486 {
		t.Errorf("usage.owed: owed %d, outstanding %d (%v); want 486 and 486", owed, outstanding, err)
	}
	f.topUp("acme", "sari@acme.example", 1000, 0)
	b = f.balances("acme")
	if b.WABalance != 514 || b.Outstanding != 0 {
		t.Errorf("after the top-up %+v, want 514 and nothing outstanding", b)
	}
	f.audited()
}

func TestTiersRestartEachMonth(t *testing.T) {
	f := messageFixture(t, 10_000)
	// Utility: 356 for the 1st and 2nd billed message of a month, 320 from
	// the 3rd; a free one does not count.
	b := f.record("acme", false,
		send("n1", rcpt, "utility", "2026-11-25T10:00:00+07:00"),
		send("n2", rcpt, "utility", "2026-11-25T10:01:00+07:00"),
		send("n3", rcpt, "utility", "2026-11-25T10:02:00+07:00"),
		send("n4", rcpt, "utility", "2026-11-30T23:59:00+07:00"),
		send("d1", rcpt, "utility", "2026-12-01T00:00:00+07:00"), // Jakarta's December: the count restarts
		send("d2", rcpt, "utility", "2026-12-01T00:01:00+07:00"),
		send("d3", rcpt, "utility", "2026-12-01T00:02:00+07:00"),
	)
	for i, want := range []int64{356, 356, 320, 320, 356, 356, 320} {
		expect(t, b.Results[i], Charged, want)
	}
	// A refund takes a message out of the count; the next one takes its place.
	b = f.record("acme", false, EventInput{ID: "d3", Kind: KindFailed, At: "2026-12-01T00:03:00+07:00"},
		send("d4", rcpt, "utility", "2026-12-01T00:04:00+07:00"))
	expect(t, b.Results[0], Refunded, 320)
	expect(t, b.Results[1], Charged, 320)
	if n := f.count(`SELECT n FROM wa_tier_counts WHERE account_id = 'acme' AND month = '2026-11-01' AND category = 'utility' AND market = '62'`); n != 4 {
		t.Errorf("November count %d", n)
	}
	f.audited()
}

func TestSameWebhookThreeTimesBillsOnce(t *testing.T) {
	f := messageFixture(t, 10_000)
	when := ts(t0).Add(2 * time.Hour)
	body := metatest.Envelope(
		metatest.Sent("wamid.D", rcpt, when),
		metatest.Delivered("wamid.D", rcpt, when, whatsapp.Regular, "marketing"),
		metatest.Read("wamid.D", rcpt, when.Add(time.Minute)),
	)
	for range 3 {
		f.deliver(body)
	}
	if got := f.balances("acme").WABalance; got != 10_000-586 {
		t.Errorf("balance %d, want one marketing message charged", got)
	}
	if n := f.count(`SELECT count(*) FROM wa_status_inbox`); n != 3 {
		t.Errorf("%d inbox rows, want every delivery kept", n)
	}
	if n := f.count(`SELECT count(*) FROM wa_statuses`); n != 3 {
		t.Errorf("%d statuses, want 3 (sent, delivered, read once each)", n)
	}
	f.audited()
}

func TestUnknownPhoneNumberKeptFlaggedChargedToNoOne(t *testing.T) {
	f := messageFixture(t, 10_000)
	st := metatest.Delivered("wamid.U", rcpt, ts(t0).Add(2*time.Hour), whatsapp.Regular, "marketing")
	st.PhoneNumberID = "999000111"
	f.webhook(st)
	if n := f.count(`SELECT count(*) FROM wa_statuses WHERE flag = 'unknown_phone_number' AND account_id IS NULL`); n != 1 {
		t.Errorf("%d flagged statuses", n)
	}
	if n := f.count(`SELECT count(*) FROM usage_events WHERE kind = 'status'`); n != 0 {
		t.Errorf("%d status events charged", n)
	}
	if got := f.balances("acme").WABalance; got != 10_000 {
		t.Errorf("balance %d", got)
	}
	f.audited()
}

func TestReconciliationUnderMessageCard(t *testing.T) {
	f := messageFixture(t, 10_000)
	when := ts(t0).Add(2 * time.Hour)
	f.record("acme", false, send("wamid.R", rcpt, "marketing", at(t0, 2*time.Hour)), send("c0", rcpt, "marketing", at(t0, -time.Hour)))
	f.webhook(metatest.Delivered("wamid.R", rcpt, when, whatsapp.Regular, "utility"))
	f.clock.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	billed := int64(600 + 356 + 44)
	rec, _, err := f.svc.Reconcile(context.Background(), "acme", "finance", ReconcileInput{Period: "2026-11", Billed: &billed})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Charged != 600+356 || rec.Difference != 44 {
		t.Errorf("reconciliation charged %d difference %d", rec.Charged, rec.Difference)
	}
	f.audited()
}

func TestStatusBeforeTheSendAndFailedAfterSentRefundsTheDebt(t *testing.T) {
	f := messageFixture(t, 100)
	when := ts(t0).Add(2 * time.Hour)
	// The app's own send is blocked when the balance is short.
	b := f.record("acme", false, send("wamid.short", rcpt, "utility", at(t0, 2*time.Hour)))
	if b.Results[0].Outcome != Blocked || b.Balances.WABalance != 100 {
		t.Fatalf("short: %+v, balance %d", b.Results[0], b.Balances.WABalance)
	}
	// Meta's status of a message arrives before the app reports its send:
	// charged once, by Meta's word; the send that follows moves nothing.
	f.webhook(metatest.Delivered("wamid.F", rcpt, when, whatsapp.Regular, "utility"))
	if b := f.balances("acme"); b.WABalance != 0 || b.Outstanding != 256 {
		t.Fatalf("balances %+v, want 0 and 256 owed", b)
	}
	b = f.record("acme", false, send("wamid.F", rcpt, "marketing", at(t0, 2*time.Hour)))
	expect(t, b.Results[0], Free, 0)
	// A message priced on `sent` and then failed, never delivered: its
	// charge comes back, the debt first.
	f.topUp("acme", "sari@acme.example", 300, 0) // pays the 256 owed, 44 left
	sent := metatest.Sent("wamid.G", rcpt, when)
	sent.Pricing = metatest.Priced(whatsapp.Regular, "marketing")
	f.webhook(sent)
	if b := f.balances("acme"); b.WABalance != 0 || b.Outstanding != 542 {
		t.Fatalf("after G's sent: %+v, want 0 and 542 owed", b)
	}
	f.webhook(metatest.Failed("wamid.G", rcpt, when.Add(time.Minute), 131026, "Message undeliverable"))
	if b := f.balances("acme"); b.WABalance != 44 || b.Outstanding != 0 {
		t.Errorf("after G failed: %+v, want 44 back and nothing owed", b)
	}
	f.audited()
}
