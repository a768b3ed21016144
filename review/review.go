// Package review is finance's side of manual bank transfers: the proof a
// customer uploads, and finance's decision on it. It owns the proofs and
// reviews tables. An accepted proof pays the order through the same
// settlement as a gateway payment (payment.SettleTransfer); a rejection
// mails the reason; reviews left undecided for 24 h are rejected by the
// sweeper. The order moves through its typed transitions (order.ToReview,
// order.Reject). api and console call it; cmd/lunas wires it.
package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/payment"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/webhook"
)

// Decision is finance's decision on a proof.
type Decision string

// Decisions.
const (
	Accept Decision = "accept"
	Reject Decision = "reject"
)

// Service decides manual transfers.
type Service struct {
	log      *slog.Logger
	pool     *store.DB
	orders   *order.Service
	payments *payment.Service
}

// New returns a Service.
func New(pool *store.DB, orders *order.Service, payments *payment.Service, log *slog.Logger) *Service {
	return &Service{pool: pool, orders: orders, payments: payments, log: log}
}

// MaxProofSize is the largest proof file accepted.
const MaxProofSize = 5 << 20

// ProofInput is a manual-transfer proof as uploaded.
type ProofInput struct {
	File          []byte
	Amount        int64
	TransferredAt time.Time
	SenderBank    string
	SenderName    string
}

// Proof is a stored proof: the file and what the customer declared with it.
type Proof struct {
	ID          string
	OrderID     string
	ContentType string
	Size        int64
	SHA256      string
	Data        []byte
	// As declared at upload (the console shows them beside the order's total).
	Amount        int64
	TransferredAt time.Time
	SenderBank    string
	SenderName    string
	CreatedAt     time.Time
}

// SniffProof tells a proof's type by its content: PNG, JPEG or PDF; ""
// for anything else, whatever its name or declared type.
func SniffProof(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "application/pdf"
	}
	return ""
}

// SubmitProof stores a manual-transfer proof and puts the order in review.
// Allowed while the invoice is payable, and on a rejected order as a
// correction. The caller has checked the field syntax; the file's content
// is checked here.
func (s *Service) SubmitProof(ctx context.Context, orderID string, in ProofInput) (*order.Order, error) {
	var ve lunas.ValidationError
	var ct string
	switch {
	case len(in.File) == 0:
		ve.Add("file", "is required")
	case len(in.File) > MaxProofSize:
		return nil, lunas.E(lunas.KindTooLarge, "file is larger than 5 MiB")
	default:
		var problem string
		if ct, problem = CheckProof(in.File); problem != "" {
			ve.Add("file", "%s", problem)
		}
	}
	if in.Amount <= 0 {
		ve.Add("amount", "must be a positive whole number of rupiah")
	}
	if strings.TrimSpace(in.SenderBank) == "" || len(in.SenderBank) > 100 {
		ve.Add("sender_bank", "is required (at most 100 characters)")
	}
	if strings.TrimSpace(in.SenderName) == "" || len(in.SenderName) > 200 {
		ve.Add("sender_name", "is required (at most 200 characters)")
	}
	if in.TransferredAt.IsZero() {
		ve.Add("transferred_at", "is required (RFC 3339)")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in.File)
	cur, err := s.orders.GetOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if cur.Status == order.StatusRejected {
		// A correction: no gateway payment may stay open under the order
		// finance is about to decide on.
		if err := s.payments.EndOpenAttempts(ctx, orderID); err != nil {
			return nil, err
		}
	}
	err = s.orders.InTx(ctx, orderID, func(tx pgx.Tx, o *order.Order, now time.Time) error {
		switch o.Status {
		case order.StatusAwaitingPayment:
			if o.ExpiresAt != nil && !now.Before(*o.ExpiresAt) { // a subscription invoice has no deadline
				return lunas.E(lunas.KindConflict, "cannot upload a proof: invoice %s expired", *o.InvoiceNumber)
			}
		case order.StatusRejected:
		default:
			return order.Conflict("upload a proof", o)
		}
		if in.TransferredAt.After(now.Add(time.Hour)) {
			return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "transferred_at", Message: "is in the future"}}}
		}
		proofID := store.NewID("prf")
		_, err := tx.Exec(ctx, `INSERT INTO proofs (id, order_id, content_type, size, sha256, data, amount, transferred_at, sender_bank, sender_name, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, proofID, orderID, ct, len(in.File), hex.EncodeToString(sum[:]), in.File,
			in.Amount, in.TransferredAt, in.SenderBank, in.SenderName, now)
		if err != nil {
			return err
		}
		// The requester hears at once that the proof arrived (API or pay
		// page alike), in the same transaction as the upload.
		if err := mail.QueueProofReceived(ctx, tx, o, proofID, mail.ProofReceived{ReceivedAt: now, Amount: in.Amount,
			SenderName: in.SenderName, SenderBank: in.SenderBank}); err != nil {
			return err
		}
		if err := order.ToReview(ctx, tx, orderID, now); err != nil {
			return err
		}
		// The app hears of the proof itself too (API.md: order.proof_received).
		return order.EmitEvent(ctx, tx, orderID, webhook.OrderProofReceived, now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("proof received", "order_id", orderID, "to", order.StatusInReview)
	return s.orders.GetOrder(ctx, orderID)
}

// LatestProof returns the order's newest proof, file included.
func (s *Service) LatestProof(ctx context.Context, orderID string) (*Proof, error) {
	var p Proof
	err := s.pool.QueryRow(ctx, `SELECT id, order_id, content_type, size, sha256, data, amount, transferred_at, sender_bank, sender_name, created_at
		FROM proofs WHERE order_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, orderID).
		Scan(&p.ID, &p.OrderID, &p.ContentType, &p.Size, &p.SHA256, &p.Data, &p.Amount, &p.TransferredAt, &p.SenderBank, &p.SenderName, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "order %q has no proof", orderID)
	}
	return &p, store.Unavailable(err)
}

// ReviewInput is finance's decision on a proof.
type ReviewInput struct {
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason"`
}

// Review accepts or rejects an order in review. Accept pays the order
// through the same settlement as a gateway payment; reject mails the reason
// to the requester. Every decision is recorded with who made it.
func (s *Service) Review(ctx context.Context, orderID, actor string, in ReviewInput) (*order.Order, error) {
	var ve lunas.ValidationError
	if in.Decision != Accept && in.Decision != Reject {
		ve.Add("decision", "must be accept or reject")
	}
	if in.Decision == Reject && strings.TrimSpace(in.Reason) == "" {
		ve.Add("reason", "is required to reject")
	}
	if len(in.Reason) > 1000 {
		ve.Add("reason", "must be at most 1000 characters")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	err := s.orders.InTx(ctx, orderID, func(tx pgx.Tx, o *order.Order, now time.Time) error {
		if o.Status != order.StatusInReview {
			return order.Conflict(string(in.Decision), o)
		}
		var proofID *string
		if err := tx.QueryRow(ctx, `SELECT id FROM proofs WHERE order_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, orderID).Scan(&proofID); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := record(ctx, tx, orderID, proofID, in.Decision, in.Reason, actor, now); err != nil {
			return err
		}
		if in.Decision == Reject {
			return reject(ctx, tx, o, in.Reason, now)
		}
		// Pay through a manual_transfer attempt at the order's current total.
		return s.payments.SettleTransfer(ctx, tx, o, proofID, actor, now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("review decided", "order_id", orderID, "decision", in.Decision, "by", actor)
	return s.orders.GetOrder(ctx, orderID)
}

// record stores a decision on an order's proof (nil: the sweeper's, on
// whatever was there).
func record(ctx context.Context, tx pgx.Tx, orderID string, proofID *string, d Decision, reason, actor string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO reviews (id, order_id, proof_id, decision, reason, actor, decided_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		store.NewID("rev"), orderID, proofID, d, reason, actor, now)
	return err
}

// reject moves an order in review to rejected and mails the reason.
func reject(ctx context.Context, tx pgx.Tx, o *order.Order, reason string, now time.Time) error {
	if err := order.Reject(ctx, tx, o.ID, reason, now); err != nil {
		return err
	}
	o.Status = order.StatusRejected
	return mail.Queue(ctx, tx, o, mail.KindRejection, reason, now)
}

// ReasonNotInTime is the rejection reason of a review left undecided.
const ReasonNotInTime = "not confirmed in time"

// ReviewLifetime is how long an order may stay in review.
const ReviewLifetime = 24 * time.Hour

// RejectStale rejects orders in review for 24 h or more; the sweeper calls
// it. Rows are claimed with SKIP LOCKED, so many sweepers share the work
// and one busy order (finance deciding it right now) is passed over.
func (s *Service) RejectStale(ctx context.Context) (int, error) {
	n := 0
	for {
		var id string
		err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			now := s.orders.Clock().Now()
			err := tx.QueryRow(ctx, `SELECT id FROM orders WHERE status = $2 AND review_since <= $1
				ORDER BY review_since LIMIT 1 FOR UPDATE SKIP LOCKED`, now.Add(-ReviewLifetime), order.StatusInReview).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				id = ""
				return nil
			}
			if err != nil {
				return err
			}
			o, err := order.Lock(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := record(ctx, tx, id, nil, Reject, ReasonNotInTime, "system", now); err != nil {
				return err
			}
			return reject(ctx, tx, o, ReasonNotInTime, now)
		})
		if err != nil {
			return n, store.Unavailable(err)
		}
		if id == "" {
			return n, nil
		}
		n++
	}
}
