package api

import "net/http"

// routeMux is the server's http.ServeMux, remembering every pattern it is
// given, so that the OpenAPI route-coverage test (api/openapi_test.go) can
// compare what the server serves with what api/openapi.yaml documents.
// Routes registered through s.handle or s.mux directly are both recorded.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern and records the pattern.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers h for pattern and records the pattern.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// Routes lists the patterns the server registered ("METHOD /path", and the
// catch-all "/"), in registration order. Which routes exist depends on the
// Options (usage billing, metrics, the test clock).
func (s *Server) Routes() []string {
	return append([]string(nil), s.mux.patterns...)
}
