package api

import (
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/invoice"
)

func (s *Server) ts(t time.Time) string { return invoice.Timestamp(t, s.Location) }

func (s *Server) tsp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := s.ts(*t)
	return &v
}

// orderView is the order object of API.md (invoice.View: the same object
// the order.* events carry).
func (s *Server) orderView(o *invoice.Order) invoice.View {
	return invoice.NewView(o, s.Location, s.PublicURL)
}

func (s *Server) attemptView(a *invoice.Attempt) invoice.AttemptView {
	return invoice.NewAttemptView(a, s.Location)
}

func fieldErr(field, msg string) []lunas.FieldError {
	return []lunas.FieldError{{Field: field, Message: msg}}
}
