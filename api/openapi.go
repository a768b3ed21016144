package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// openapiYAML is the hand-written OpenAPI 3.1 document of this API. The
// contract comes first and the code follows it; tests keep the two in step
// (route coverage in openapi_test.go, every request and response of the
// end-to-end tests validated through internal/openapitest).
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the OpenAPI document as written (YAML). Test support
// loads it from here.
func OpenAPI() []byte { return append([]byte(nil), openapiYAML...) }

// OpenAPIJSON returns the OpenAPI document converted to JSON, as served at
// GET /openapi.json.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	v, err := jsonable(doc)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(v, "", "  ")
}

// jsonable turns what YAML decodes into what JSON can encode: mappings with
// non-string keys (status codes written without quotes) get string keys.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[k] = j
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = j
		}
		return m, nil
	case []any:
		for i, e := range x {
			j, err := jsonable(e)
			if err != nil {
				return nil, err
			}
			x[i] = j
		}
		return x, nil
	case string, bool, int, int64, uint64, float64, nil:
		return x, nil
	}
	return nil, fmt.Errorf("api/openapi.yaml: a %T value has no JSON form (quote it)", v)
}

// openAPI serves the document as JSON, converted on first use.
func (s *Server) openAPI() http.HandlerFunc {
	var once sync.Once
	var doc []byte
	var err error
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { doc, err = OpenAPIJSON() })
		if err != nil {
			s.log.Error("openapi document", "err", err)
			writeProblem(w, http.StatusInternalServerError, "internal error", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	}
}
