// Command readmetable rewrites the configuration table of the Markdown file
// it is given (the README) from config's declaration. `go generate
// ./config` runs it; config's tests fail until it has.
package main

import (
	"fmt"
	"os"

	"github.com/lunas-id/lunas/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: readmetable docs/configuration.md")
		os.Exit(2)
	}
	path := os.Args[1]
	doc, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := config.RewriteTable(string(doc))
	if err != nil {
		fmt.Fprintln(os.Stderr, path+":", err)
		os.Exit(1)
	}
	if out == string(doc) {
		return
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
