// Package task is the one place that names lunas's background work: the
// asynq task types, their JSON payload, the deterministic outbox ids that
// become asynq TaskIDs, and the queue each type runs on.
//
// Domain packages (invoice, payment, mail, sending) build jobs with the
// constructors here and record them with outbox.Enqueue; outbox relays
// them; worker routes them to handlers. Keeping the spelling in one package
// means "apply:<id>" cannot drift between the writer, the relay and the
// re-drive sweep. task imports nothing of lunas: every package may use it.
package task

import (
	"encoding/json"
	"fmt"
	"time"
)

// Task types.
const (
	PaymentApply  = "payment:apply"  // apply one inbox event (confirmed with the gateway first)
	PaymentCancel = "payment:cancel" // void an attempt at its gateway
	InvoiceExpire = "invoice:expire" // expire an unpaid order at its deadline
	PDFRender     = "pdf:render"     // render and store a proforma
	MailSend      = "mail:send"      // send one recorded mail
	SendingRun    = "sending:run"    // work through a bulk sending's messages
	WARate        = "wa:rate"        // rate one WhatsApp status webhook body (Meta's pricing)
)

// Queues lunas uses, one per kind of work, so that each can be served by a
// worker pool of its own (worker.Pools) and no kind of task can starve
// another: applying a payment and expiring an invoice go to QueueCritical,
// mail to QueueMail (an SMTP server that stalls holds only mail back), and
// documents, gateway cancels and the rest to Queue.
const (
	Queue         = "lunas"
	QueueCritical = "lunas-critical"
	QueueMail     = "lunas-mail"
)

// Queues lists every queue lunas uses (for inspection: archives, lag).
func Queues() []string { return []string{QueueCritical, QueueMail, Queue} }

// QueueFor names the queue of a task type.
func QueueFor(taskType string) string {
	switch taskType {
	case PaymentApply, InvoiceExpire, WARate:
		return QueueCritical
	case MailSend:
		return QueueMail
	}
	return Queue
}

// Payload is the JSON payload of every lunas task.
type Payload struct {
	OrderID   string `json:"order_id,omitempty"`
	EventID   int64  `json:"event_id,omitempty"`
	MailID    string `json:"mail_id,omitempty"`
	AttemptID string `json:"attempt_id,omitempty"`
	Kind      string `json:"kind,omitempty"`
	SendingID string `json:"sending_id,omitempty"`
	// Fresh marks a render after the order changed: it replaces whatever
	// is stored (a document rendered before the change may have been
	// stored after it).
	Fresh bool `json:"fresh,omitempty"`
}

// Decode reads a task payload.
func Decode(b []byte) (Payload, error) {
	var p Payload
	err := json.Unmarshal(b, &p)
	return p, err
}

// Job is one unit of outbox work: what outbox.Enqueue records and the
// relay turns into an asynq task.
type Job struct {
	ID        string    // deterministic: the same intent always has the same id (the asynq TaskID)
	Type      string    // asynq task type
	Payload   []byte    // JSON
	ProcessAt time.Time // zero: as soon as possible (in the clock's time)
}

func job(id, typ string, p Payload, at time.Time) Job {
	b, _ := json.Marshal(p) // a struct of strings and an int64 always marshals
	return Job{ID: id, Type: typ, Payload: b, ProcessAt: at}
}

// ApplyPrefix starts the outbox id of every apply job.
const ApplyPrefix = "apply:"

// ApplyID is the outbox id of the job applying inbox event eventID.
func ApplyID(eventID int64) string { return fmt.Sprintf("%s%d", ApplyPrefix, eventID) }

// ExpireID is the outbox id of an order's scheduled expiry.
func ExpireID(orderID string) string { return "expire:" + orderID }

// Apply is the job that applies inbox event eventID.
func Apply(eventID int64) Job {
	return job(ApplyID(eventID), PaymentApply, Payload{EventID: eventID}, time.Time{})
}

// Reapply is the job that applies inbox event eventID again after its
// redelivery-th delivery re-armed it (payment.RecordEvent): a job of its
// own, since the first one is done.
func Reapply(eventID int64, redelivery int) Job {
	return job(fmt.Sprintf("%s:%d", ApplyID(eventID), redelivery), PaymentApply, Payload{EventID: eventID}, time.Time{})
}

// Cancel is the job that voids attempt attemptID at its gateway.
func Cancel(attemptID string) Job {
	return job("cancel:"+attemptID, PaymentCancel, Payload{AttemptID: attemptID}, time.Time{})
}

// Expire is the job that expires orderID at (service-clock) time at.
func Expire(orderID string, at time.Time) Job {
	return job(ExpireID(orderID), InvoiceExpire, Payload{OrderID: orderID}, at)
}

// Render is the job that renders an order's proforma of kind ("unpaid",
// "paid"); version distinguishes a re-render after the order changed.
func Render(orderID, kind, version string) Job {
	id := "pdf:" + orderID + ":" + kind
	if version != "" {
		id += ":" + version
	}
	return job(id, PDFRender, Payload{OrderID: orderID, Kind: kind, Fresh: version != ""}, time.Time{})
}

// Mail is the job that sends recorded mail mailID.
func Mail(mailID string) Job {
	return job("mail:"+mailID, MailSend, Payload{MailID: mailID}, time.Time{})
}

// Sending is the job that works through bulk sending sendingID;
// revival counts the times the sweeper revived it after its worker died
// (each revival is a job of its own).
func Sending(sendingID string, revival int) Job {
	return job(fmt.Sprintf("sending:%s:%d", sendingID, revival), SendingRun, Payload{SendingID: sendingID}, time.Time{})
}

// RateStatuses is the job that rates WhatsApp status webhook body inboxID
// (usage.RateInbox).
func RateStatuses(inboxID int64) Job {
	return job(fmt.Sprintf("wa-rate:%d", inboxID), WARate, Payload{EventID: inboxID}, time.Time{})
}
