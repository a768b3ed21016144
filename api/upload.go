package api

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lunas-id/lunas"
)

// upload is a multipart/form-data upload as the proof and withholding-slip
// routes take it: one file (read whole, at most its route's size) and
// short text fields, each trimmed and checked to be text PostgreSQL
// stores. The client's file name and declared type are never used.
type upload struct {
	file    []byte
	hasFile bool
	values  map[string]string // the fields given, trimmed
}

// readUpload reads r's multipart body. Field errors (an unknown field, a
// second file, a value that is not text) are added to ve so the caller
// reports them with its own; a body that is not multipart, or breaks, is
// the returned error, and a file above maxFile is KindTooLarge.
func readUpload(r *http.Request, maxFile int, fields []string, ve *lunas.ValidationError) (upload, error) {
	u := upload{values: map[string]string{}}
	mr, err := r.MultipartReader()
	if err != nil {
		return u, &lunas.ValidationError{Fields: fieldErr("body", "must be multipart/form-data")}
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return u, nil
		}
		if err != nil {
			return u, partError(err)
		}
		name := p.FormName()
		switch {
		case name == "file":
			if u.hasFile {
				ve.Add("file", "only one file")
				continue
			}
			u.hasFile = true
			if u.file, err = io.ReadAll(io.LimitReader(p, int64(maxFile)+1)); err != nil {
				return u, partError(err)
			}
			if len(u.file) > maxFile {
				return u, lunas.E(lunas.KindTooLarge, "file is larger than 5 MiB")
			}
		case slices.Contains(fields, name):
			b, err := io.ReadAll(io.LimitReader(p, 1024))
			if err != nil {
				return u, partError(err)
			}
			v := strings.TrimSpace(string(b))
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				ve.Add(name, textMessage) // as decode does for JSON bodies
			}
			u.values[name] = v
		default:
			if len(name) > 64 {
				name = name[:64]
			}
			ve.Add(strings.ToValidUTF8(strings.ReplaceAll(name, "\x00", ""), "?"), "is not a known field")
		}
		_ = p.Close()
	}
}

// writeUploadError answers an upload that could not be read: 413 for a
// body or file above the limit, else the error as it is.
func (s *Server) writeUploadError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	var ve *lunas.ValidationError
	switch {
	case errors.As(err, &mbe), lunas.KindOf(err) == lunas.KindTooLarge && !errors.As(err, &ve):
		writeProblem(w, http.StatusRequestEntityTooLarge, "upload is larger than 5 MiB", fieldErr("file", "must be at most 5 MiB"))
	default:
		s.writeError(w, r, err)
	}
}

// partError is a part that cannot be read: past the body's limit, or
// not multipart at all.
func partError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return &lunas.ValidationError{Fields: fieldErr("body", "is not valid multipart/form-data")}
}
