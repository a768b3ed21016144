package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/review"
)

// uploadProof takes a manual-transfer proof as multipart/form-data. The file
// is read whole (at most 5 MiB) and checked by its content in invoice; the
// name and declared type the client sent are ignored, so nothing the client
// names ever becomes a path.
func (s *Server) uploadProof(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, review.MaxProofSize+64<<10)
	in, err := parseProof(r)
	if err != nil {
		s.writeUploadError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.dbDeadline())
	defer cancel()
	r = r.WithContext(ctx)
	s.orderResult(w, r, http.StatusOK)(s.Reviews.SubmitProof(ctx, r.PathValue("id"), in))
}

// parseProof reads the multipart form into a proof, naming every bad field.
func parseProof(r *http.Request) (review.ProofInput, error) {
	var in review.ProofInput
	var ve lunas.ValidationError
	u, err := readUpload(r, review.MaxProofSize, []string{"amount", "transferred_at", "sender_bank", "sender_name"}, &ve)
	if err != nil {
		return in, err
	}
	in.File = u.file
	values, sawFile := u.values, u.hasFile
	if v, ok := values["amount"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			ve.Add("amount", "must be a positive whole number of rupiah")
		}
		in.Amount = n
	} else {
		ve.Add("amount", "is required")
	}
	if v, ok := values["transferred_at"]; ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ve.Add("transferred_at", "must be an RFC 3339 time with offset")
		}
		in.TransferredAt = t
	} else {
		ve.Add("transferred_at", "is required")
	}
	in.SenderBank, in.SenderName = values["sender_bank"], values["sender_name"]
	for _, f := range []struct{ name, v string }{{"sender_bank", in.SenderBank}, {"sender_name", in.SenderName}} {
		if f.v == "" {
			ve.Add(f.name, "is required")
		}
	}
	if !sawFile {
		ve.Add("file", "is required")
	} else if _, problem := review.CheckProof(in.File); problem != "" && len(ve.Fields) > 0 {
		// Report the content check with the other fields, all at once.
		ve.Add("file", "%s", problem)
	}
	return in, ve.Err()
}

func (s *Server) getProof(w http.ResponseWriter, r *http.Request) {
	p, err := s.Reviews.LatestProof(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ext := map[string]string{"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}[p.ContentType]
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", `attachment; filename="proof-`+p.OrderID+`.`+ext+`"`)
	w.Header().Set("X-Proof-SHA256", p.SHA256)
	_, _ = w.Write(p.Data)
}
