package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/order"
	"github.com/lunas-id/lunas/proforma"
	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/templates"
)

// KindProofReceived tells the requester their transfer proof arrived
// (seed 002: "we received your request"), one mail per upload.
const KindProofReceived = "proof_received"

// ProofReceived is what a proof-received mail row keeps (mails.data), as
// it was at the upload, so every retry says the same.
type ProofReceived struct {
	ReceivedAt time.Time `json:"received_at"`
	Amount     int64     `json:"amount"` // declared by the payer, rupiah
	SenderName string    `json:"sender_name"`
	SenderBank string    `json:"sender_bank"`
}

// QueueProofReceived records the proof-received mail of upload proofID to
// the order's requester in tx, the upload's transaction (review.SubmitProof,
// for the API and the pay page alike): one per proof, whatever retries.
func QueueProofReceived(ctx context.Context, tx pgx.Tx, o *order.Order, proofID string, p ProofReceived) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = QueueAs(ctx, tx, o, KindProofReceived, "mail_"+KindProofReceived+"_"+proofID, data, p.ReceivedAt)
	return err
}

func (s *Service) proofData(ctx context.Context, mailID string, d *templates.Data) error {
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT data FROM mails WHERE id = $1`, mailID).Scan(&raw); err != nil {
		return store.Unavailable(err)
	}
	var p ProofReceived
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("%w: proof data of %s: %v", ErrPermanent, mailID, err)
	}
	d.ProofReceivedAt = proforma.LocalTime(p.ReceivedAt, s.loc)
	d.ProofAmount = proforma.Rupiah(p.Amount)
	d.ProofSender = p.SenderName + " (" + p.SenderBank + ")"
	return nil
}
