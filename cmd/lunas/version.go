package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…" (the
// Dockerfile's VERSION); revision likewise, for builds made without the
// .git directory (the Docker build context leaves it out), where the Go
// toolchain cannot stamp the VCS revision itself.
var (
	version  = "dev" //nolint:gochecknoglobals // set by the linker (-X main.version)
	revision = ""    //nolint:gochecknoglobals // set by the linker (-X main.revision)
)

// versionLine is what `lunas version` prints: the version, the VCS revision
// and commit time the Go toolchain stamped into the binary (go build in a
// git checkout; "+modified" when the tree had uncommitted changes), and the
// Go version and platform. read is debug.ReadBuildInfo; tests pass their own.
func versionLine(read func() (*debug.BuildInfo, bool)) string {
	v, rev, at, modified, goVersion := version, revision, "", false, runtime.Version()
	if info, ok := read(); ok {
		goVersion = info.GoVersion
		// `go install github.com/lunas-id/lunas/cmd/lunas@v1.2.3` stamps the module version.
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "lunas %s", v)
	if rev == "" {
		b.WriteString(" (revision unknown: built without VCS information)")
	} else {
		fmt.Fprintf(&b, " revision %s", rev)
		if modified {
			b.WriteString("+modified")
		}
		if at != "" {
			fmt.Fprintf(&b, " committed %s", at)
		}
	}
	fmt.Fprintf(&b, " %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
