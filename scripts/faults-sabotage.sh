#!/usr/bin/env bash
# Shows that every check of the fault suite (cmd/faults) can fail: each
# patch in cmd/faults/sabotage breaks lunas (or the suite) on purpose; this
# script applies it to a scratch worktree of the committed tree (HEAD),
# builds lunas and the suite there, runs the suite, and checks that the
# verdict is FAIL and that every row the patch names ("# fails: <row>")
# shows the breakage. It prints each run's table and a summary.
#
#   make test-faults-sabotage                 # every patch (about 4 min each)
#   scripts/faults-sabotage.sh cmd/faults/sabotage/2-reversals-mail.patch
#
# Not part of CI (it takes a quarter of an hour); `make test-faults` is.
# Exit 0 when every patch was caught on every row it names.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"
patches=("$@")
if [ ${#patches[@]} -eq 0 ]; then
	patches=(cmd/faults/sabotage/*.patch)
fi
logs=$(mktemp -d /tmp/lunas-sabotage-XXXXXX)
summary=()
status=0

# failing ROW VALUE: does the row's value show the breakage? Most rows count
# things that must be 0; the outage rows must be non-zero and fast.
failing() {
	case "$1" in
	"webhooks answered during the PostgreSQL outage" | "of which 503 (the gateway retries)") [ "$2" -eq 0 ] ;;
	"slowest webhook answer during the outage, ms") [ "$2" -gt 3000 ] ;;
	*) [ "$2" -gt 0 ] ;;
	esac
}

for p in "${patches[@]}"; do
	name=$(basename "$p" .patch)
	wt="$logs/$name"
	git worktree add -q --detach "$wt" HEAD
	trap 'git -C "$root" worktree remove --force "$wt" 2>/dev/null || true' EXIT
	if ! git -C "$wt" apply "$root/$p"; then
		summary+=("$name: the patch does not apply to HEAD any more; refresh it")
		status=1
		git worktree remove --force "$wt"
		continue
	fi
	echo "== $name: building the broken lunas and suite"
	(cd "$wt" && go build -o bin/lunas ./cmd/lunas && go build -o bin/faults ./cmd/faults)
	echo "== $name: running the fault suite (log: $logs/$name.out)"
	(cd "$wt" && ./bin/faults -lunas bin/lunas -wait 90s) >"$logs/$name.out" 2>"$logs/$name.err" || true
	sed -n '/^| measure/,/^verdict:/p' "$logs/$name.out"
	missed=()
	while IFS= read -r row; do
		line=$(grep -F "| $row | " "$logs/$name.out" || true)
		if [ -z "$line" ]; then
			missed+=("$row (row not printed)")
			continue
		fi
		value=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $3); print $3}')
		if ! failing "$row" "$value"; then
			missed+=("$row ($value)")
		fi
	done < <(sed -n 's/^# fails: //p' "$p")
	if ! grep -q '^verdict: FAIL' "$logs/$name.out"; then
		missed+=("verdict is not FAIL")
	fi
	if [ ${#missed[@]} -eq 0 ]; then
		summary+=("$name: caught, verdict FAIL, every named row failing ($(grep -c '^# fails: ' "$p") rows)")
	else
		summary+=("$name: NOT CAUGHT: ${missed[*]}")
		status=1
	fi
	git worktree remove --force "$wt"
	trap - EXIT
done

echo
echo "sabotage summary:"
printf '  %s\n' "${summary[@]}"
exit $status
