package invoice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/gateway"
	"github.com/lunas-id/lunas/store"
)

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

// Proof is a stored proof's metadata.
type Proof struct {
	ID          string
	OrderID     string
	ContentType string
	Size        int64
	SHA256      string
	Data        []byte
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
func (s *Service) SubmitProof(ctx context.Context, orderID string, in ProofInput) (*Order, error) {
	var ve lunas.ValidationError
	ct := SniffProof(in.File)
	switch {
	case len(in.File) == 0:
		ve.Add("file", "is required")
	case len(in.File) > MaxProofSize:
		return nil, lunas.E(lunas.KindTooLarge, "file is larger than 5 MiB")
	case ct == "":
		ve.Add("file", "must be a PNG, JPEG or PDF (checked by content)")
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
	err := s.inOrderTx(ctx, orderID, func(tx pgx.Tx, o *Order, now time.Time) error {
		switch o.Status {
		case StatusAwaitingPayment:
			if !now.Before(*o.ExpiresAt) {
				return lunas.E(lunas.KindConflict, "cannot upload a proof: invoice %s expired", *o.InvoiceNumber)
			}
		case StatusRejected:
		default:
			return conflict("upload a proof", o)
		}
		if in.TransferredAt.After(now.Add(time.Hour)) {
			return &lunas.ValidationError{Fields: []lunas.FieldError{{Field: "transferred_at", Message: "is in the future"}}}
		}
		_, err := tx.Exec(ctx, `INSERT INTO proofs (id, order_id, content_type, size, sha256, data, amount, transferred_at, sender_bank, sender_name, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`, store.NewID("prf"), orderID, ct, len(in.File), hex.EncodeToString(sum[:]), in.File,
			in.Amount, in.TransferredAt, in.SenderBank, in.SenderName, now)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE orders SET status = 'in_review', review_since = $2, status_reason = NULL, updated_at = $2 WHERE id = $1`, orderID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetOrder(ctx, orderID)
}

// LatestProof returns the order's newest proof, file included.
func (s *Service) LatestProof(ctx context.Context, orderID string) (*Proof, error) {
	var p Proof
	err := s.pool.QueryRow(ctx, `SELECT id, order_id, content_type, size, sha256, data FROM proofs
		WHERE order_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, orderID).
		Scan(&p.ID, &p.OrderID, &p.ContentType, &p.Size, &p.SHA256, &p.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lunas.E(lunas.KindNotFound, "order %q has no proof", orderID)
	}
	return &p, store.Unavailable(err)
}

// ReviewInput is finance's decision on a proof.
type ReviewInput struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// Review accepts or rejects an order in review. Accept pays the order
// through the same settlement as a gateway payment; reject mails the reason
// to the requester. Every decision is recorded with who made it.
func (s *Service) Review(ctx context.Context, orderID, actor string, in ReviewInput) (*Order, error) {
	var ve lunas.ValidationError
	if in.Decision != "accept" && in.Decision != "reject" {
		ve.Add("decision", "must be accept or reject")
	}
	if in.Decision == "reject" && strings.TrimSpace(in.Reason) == "" {
		ve.Add("reason", "is required to reject")
	}
	if len(in.Reason) > 1000 {
		ve.Add("reason", "must be at most 1000 characters")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	err := s.inOrderTx(ctx, orderID, func(tx pgx.Tx, o *Order, now time.Time) error {
		if o.Status != StatusInReview {
			return conflict(in.Decision, o)
		}
		var proofID *string
		if err := tx.QueryRow(ctx, `SELECT id FROM proofs WHERE order_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, orderID).Scan(&proofID); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reviews (id, order_id, proof_id, decision, reason, actor, decided_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			store.NewID("rev"), orderID, proofID, in.Decision, in.Reason, actor, now); err != nil {
			return err
		}
		if in.Decision == "reject" {
			return s.reject(ctx, tx, o, in.Reason, actor, now)
		}
		// Pay through a manual_transfer attempt: the one the customer opened,
		// or one made now, with the order's current (possibly corrected) total.
		var attemptID string
		err := tx.QueryRow(ctx, `SELECT id FROM payment_attempts WHERE order_id = $1 AND method = 'manual_transfer' AND status = 'pending'
			ORDER BY created_at DESC LIMIT 1`, orderID).Scan(&attemptID)
		if errors.Is(err, pgx.ErrNoRows) {
			attemptID = store.NewID("pay")
			_, err = tx.Exec(ctx, `INSERT INTO payment_attempts (id, order_id, method, provider, status, amount, fee, details, expires_at, created_at, updated_at)
				VALUES ($1,$2,'manual_transfer',$3,'pending',$4,0,$5,$6,$7,$7)`, attemptID, orderID, gateway.ProviderManual, o.Total,
				map[string]any{"bank_account": s.bank, "reference": deref(o.InvoiceNumber)}, o.ExpiresAt, now)
		} else if err == nil {
			_, err = tx.Exec(ctx, `UPDATE payment_attempts SET amount = $2 WHERE id = $1`, attemptID, o.Total)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE payment_attempts SET gateway_ref = $2, details = details || $3 WHERE id = $1`,
			attemptID, proofID, map[string]any{"reviewed_by": actor}); err != nil {
			return err
		}
		return s.settle(ctx, tx, o, attemptID, now)
	})
	if err != nil {
		return nil, err
	}
	return s.GetOrder(ctx, orderID)
}

// reject moves an order in review to rejected and mails the reason.
func (s *Service) reject(ctx context.Context, tx pgx.Tx, o *Order, reason, actor string, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'rejected', status_reason = $2, updated_at = $3 WHERE id = $1`, o.ID, reason, now); err != nil {
		return err
	}
	if actor == "system" {
		if _, err := tx.Exec(ctx, `INSERT INTO reviews (id, order_id, decision, reason, actor, decided_at) VALUES ($1,$2,'reject',$3,'system',$4)`,
			store.NewID("rev"), o.ID, reason, now); err != nil {
			return err
		}
	}
	o.Status = StatusRejected
	return queueMail(ctx, tx, o, MailRejection, reason, now)
}
