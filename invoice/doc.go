// Package invoice issues lunas's sales invoices: it prices orders (the
// configurable Catalog: minimum top-ups, packs, VAT, the card fee), numbers
// invoices gap-free per year with their n+1 23:59 deadline, and runs what
// the app does to an order before it is paid — create, re-price, confirm,
// cancel — and the issue of a subscription's invoice. It owns the invoices
// and invoice_counters tables.
//
// Each action is one transaction holding the order's row lock: the order's
// typed transition (package order), the mail to the requester (package
// mail), the outbox jobs it implies (the UNPAID render, the expiry), and
// the payment attempts it ends through Attempts, which package payment
// provides. api and console call the Service; subscription calls
// IssueSubscriptionInvoice.
package invoice
