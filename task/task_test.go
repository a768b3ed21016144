package task

import (
	"testing"
	"time"
)

// Money-moving tasks run on the critical queue, mail on its own, the rest
// on the default one; the ids are the ones the inbox statement and the
// order transitions spell.
func TestQueuesAndIDs(t *testing.T) {
	t.Parallel()
	for typ, want := range map[string]string{
		PaymentApply: QueueCritical, InvoiceExpire: QueueCritical, MailSend: QueueMail,
		PDFRender: Queue, PaymentCancel: Queue, "sending:run": Queue,
	} {
		if got := QueueFor(typ); got != want {
			t.Errorf("QueueFor(%s) = %s, want %s", typ, got, want)
		}
	}
	if got := ApplyID(42); got != ApplyPrefix+"42" || Apply(42).ID != got || Apply(42).Type != PaymentApply {
		t.Errorf("apply id %q, job %+v", got, Apply(42))
	}
	if j := Expire("ord_1", time.Time{}); j.ID != ExpireID("ord_1") || j.ID != "expire:ord_1" {
		t.Errorf("expire job %+v", j)
	}
	if a, b := Render("ord_1", "unpaid", ""), Render("ord_1", "unpaid", "2"); a.ID == b.ID {
		t.Errorf("a re-render must not reuse the first render's id: %s", a.ID)
	}
	if p, err := Decode(Mail("mail_x").Payload); err != nil || p.MailID != "mail_x" {
		t.Errorf("mail payload %+v %v", p, err)
	}
	if len(Queues()) != 3 {
		t.Errorf("queues %v", Queues())
	}
}
