// Package whatsapp reads Meta's WhatsApp Cloud API webhooks: it checks
// their X-Hub-Signature-256, answers the GET subscription handshake, and
// parses the message status updates (sent, delivered, read, failed, with
// Meta's pricing of each message) out of the whatsapp_business_account
// envelope. It keeps no state and touches no database.
//
// The api's /webhooks/whatsapp handler calls Verify (before anything
// else), Parse and Handshake; the worker that rates statuses reads the
// Status values and dedupes them by DedupeKey. internal/metatest builds
// the same envelopes, signed, for tests.
package whatsapp

import (
	"time"

	"github.com/lunas-id/lunas/tariff"
)

// State is a message status as Meta reports it.
type State string

// Message states of Meta's status webhooks. Meta may add more; Parse
// keeps an unknown state as it came (Known reports false) rather than
// refusing a batch for it.
const (
	Sent      State = "sent"      // left Meta's servers
	Delivered State = "delivered" // on the user's device: what Meta charges for
	Read      State = "read"      // displayed; implies delivered (no delivered webhook is then sent)
	Failed    State = "failed"    // not sent or not delivered; carries errors, never pricing
	Played    State = "played"    // a voice message was first played
)

// Known reports whether s is one of the states above.
func (s State) Known() bool {
	switch s {
	case Sent, Delivered, Read, Failed, Played:
		return true
	}
	return false
}

// PricingModel is Meta's pricing model of a message.
type PricingModel string

const (
	PerMessage   PricingModel = "PMP" // per-message pricing, since 2025-07-01
	Conversation PricingModel = "CBP" // conversation-based pricing, before it
)

// PricingType says whether Meta charges a message, and if not, why.
type PricingType string

// Pricing types of Meta's status webhooks. Unknown ones are kept as they
// came.
const (
	Regular                  PricingType = "regular"                     // charged
	FreeCustomerService      PricingType = "free_customer_service"       // free: in the customer-service window (from 2026-10-01: within the number's free service tier)
	FreeEntryPoint           PricingType = "free_entry_point"            // free: in a free entry point window
	FreeGroupCustomerService PricingType = "free_group_customer_service" // free: group traffic in its window or free tier
)

// Known reports whether t is one of the types above.
func (t PricingType) Known() bool {
	switch t {
	case Regular, FreeCustomerService, FreeEntryPoint, FreeGroupCustomerService:
		return true
	}
	return false
}

// Pricing is what Meta says it charges for a message. Meta includes it
// with `sent` and with one of `delivered` or `read`, never with `failed`.
type Pricing struct {
	// Billable is Meta's deprecated flag (nil when absent): decide by Type
	// and Category instead, as Meta asks.
	Billable *bool
	Model    PricingModel
	Type     PricingType
	// Category is normalised by tariff.ParseCategory
	// ("authentication-international" → authentication_international);
	// one no card prices (referral_conversion, group_marketing, …) is kept.
	Category tariff.Category
}

// Charged reports whether Meta charges the message: its type is regular,
// or, on an old (conversation-priced) webhook that has no type, it is
// billable.
func (p *Pricing) Charged() bool {
	if p == nil {
		return false
	}
	if p.Type == "" {
		return p.Billable != nil && *p.Billable
	}
	return p.Type == Regular
}

// Status is one status update of one message.
type Status struct {
	MessageID          string // Meta's wamid: the app's usage event id
	WABAID             string // entry[].id: the WhatsApp Business Account
	PhoneNumberID      string // metadata.phone_number_id: the business number, which names the account
	DisplayPhoneNumber string // metadata.display_phone_number
	RecipientID        string // the user's number, digits without "+" (or a group id)
	Status             State
	Timestamp          time.Time // when Meta triggered the webhook, UTC, whole seconds
	Pricing            *Pricing  // nil when absent
	ErrorCode          int       // errors[0].code of a failed status, else 0
	ErrorTitle         string    // errors[0].title (its message when no title), cleaned and at most 512 bytes
}

// DedupeKey identifies a status for idempotency: Meta retries and fans
// out deliveries, and a status is the same fact whenever it arrives, so
// (message id, status) is processed once.
func DedupeKey(s Status) string { return s.MessageID + ":" + string(s.Status) }
