// Package invoice is the order machine of lunas: it prices sales orders,
// issues invoices with their n+1 23:59 deadline, opens payment attempts at
// the gateways, records gateway callbacks in the inbox, settles orders
// (forward-only, exactly once), expires and closes what was not paid in
// time, and takes manual-transfer proofs through finance review.
//
// Every state change commits together with the work it implies: outbox rows
// for the worker (store.Enqueue) and mail rows for the requester. The api
// package calls the Service for requests; the worker package calls it for
// tasks and sweeps.
package invoice
