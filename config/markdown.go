package config

import (
	"errors"
	"strings"
)

// The README's configuration table sits between these two lines; `go
// generate ./config` rewrites what is between them and a test checks it.
const (
	tableStart = "<!-- config:start -->"
	tableEnd   = "<!-- config:end -->"
)

// MarkdownTable is docs/configuration.md's configuration table: one row per variable
// of Vars, in their order, with its default, meaning and what is secret.
func MarkdownTable() string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| variable | default | meaning | secret |\n|---|---|---|---|\n")
	for _, v := range Vars() {
		b.WriteString("| `" + v.Name + "` | " + cell(v.DefaultText()) + " | " + cell(v.Doc) + " | " + v.Secrecy.column() + " |\n")
	}
	return b.String()
}

// RewriteTable returns the Markdown document doc with the text between its
// two table markers replaced by MarkdownTable.
func RewriteTable(doc string) (string, error) {
	i := strings.Index(doc, tableStart+"\n")
	j := strings.Index(doc, tableEnd)
	if i < 0 || j < i {
		return "", errors.New("config: the document has no " + tableStart + " line followed by " + tableEnd)
	}
	return doc[:i+len(tableStart)+1] + MarkdownTable() + doc[j:], nil
}
