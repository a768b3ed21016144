package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	stamped := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "893eb9f1c2ab4d5e6f708192a3b4c5d6e7f80912"},
			{Key: "vcs.time", Value: "2026-11-24T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	got := versionLine(stamped)
	for _, want := range []string{"lunas dev ", "revision 893eb9f1c2ab4d5e6f708192a3b4c5d6e7f80912+modified", "committed 2026-11-24T10:00:00Z", "go1.26.8"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, true
	}
	if got := versionLine(installed); !strings.HasPrefix(got, "lunas v1.4.0 (revision unknown") {
		t.Errorf("go install build: %q", got)
	}
	if got := versionLine(func() (*debug.BuildInfo, bool) { return nil, false }); !strings.HasPrefix(got, "lunas dev (revision unknown") {
		t.Errorf("no build info: %q", got)
	}
}
