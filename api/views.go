package api

import (
	"time"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/order"
)

func (s *Server) ts(t time.Time) string { return order.Timestamp(t, s.Location) }

func (s *Server) tsp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := s.ts(*t)
	return &v
}

// orderView is the order object of API.md (order.View: the same object
// the order.* events carry).
func (s *Server) orderView(o *order.Order) order.View {
	return order.NewView(o, s.Location, s.PayLinks)
}

func (s *Server) attemptView(a *order.Attempt) order.AttemptView {
	return order.NewAttemptView(a, s.Location, s.PayLinks)
}

func fieldErr(field, msg string) []lunas.FieldError {
	return []lunas.FieldError{{Field: field, Message: msg}}
}
