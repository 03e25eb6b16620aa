#!/bin/sh
# vulncheck.sh: govulncheck (pinned in tools/go.mod, built into bin/ by
# make) over the module's packages; tools/vulnsummary prints each
# vulnerability the code reaches and fails (exit 3) on one in a module.
# Reachable standard-library vulnerabilities are printed loudly and fail
# only with VULNCHECK_STDLIB=fatal: they are fixed by a newer Go toolchain,
# not by go.mod (this machine kind's Go comes with GOTOOLCHAIN=local).
#
# The database: VULNDB (a URL, https:// or file://) if set. Else
# https://vuln.go.dev if it answers; from this project's machines it does
# not (its name does not resolve: only the package registries are
# reachable). Else a snapshot of the same database through the Go module
# proxy: the module golang.org/x/vulndb at VULNDB_VERSION (default latest:
# the proxy's newest commit of the database's repository), whose data/osv
# holds every report as OSV JSON, which govulncheck reads as a file://
# database. If neither can be had, it says so loudly and exits 4.
set -u
GO=${GO:-go}
BIN=${BIN:-bin}
VULNDB=${VULNDB:-}
VULNDB_VERSION=${VULNDB_VERSION:-latest}
cd "$(dirname "$0")/.."

if [ -z "$VULNDB" ]; then
	if curl -fsS -o /dev/null --max-time 10 https://vuln.go.dev/index/db.json.gz 2>/dev/null; then
		VULNDB=https://vuln.go.dev
	else
		echo "vulncheck: vuln.go.dev cannot be reached from here; using golang.org/x/vulndb@$VULNDB_VERSION from the Go module proxy"
		# Outside any module, so that neither go.mod nor go.sum changes.
		nomod=$(mktemp -d)
		dir=$(cd "$nomod" && GOFLAGS= $GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" 2>&1 |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		if [ -z "$dir" ] || [ ! -d "$dir/data/osv" ]; then
			rmdir "$nomod"
			echo "vulncheck: ********************************************************************"
			echo "vulncheck: NO VULNERABILITY DATABASE: neither vuln.go.dev nor golang.org/x/vulndb"
			echo "vulncheck: @$VULNDB_VERSION through the module proxy could be reached. Nothing was checked."
			echo "vulncheck: ********************************************************************"
			exit 4
		fi
		version=$(cd "$nomod" && GOFLAGS= $GO list -m -f '{{.Version}} ({{.Time}})' "golang.org/x/vulndb@$VULNDB_VERSION" 2>/dev/null)
		echo "vulncheck: database snapshot golang.org/x/vulndb $version, $(ls "$dir/data/osv" | wc -l) reports"
		# The proxy serves the versions it has; reports published since
		# the snapshot are not seen.
		made=$(cd "$nomod" && GOFLAGS= $GO list -m -f '{{.Time.Unix}}' "golang.org/x/vulndb@$VULNDB_VERSION" 2>/dev/null)
		if [ -n "$made" ]; then
			days=$((($(date +%s) - made) / 86400))
			[ "$days" -gt 7 ] && echo "vulncheck: WARNING: the snapshot is $days days old; vulnerabilities reported since then are not checked"
		fi
		rmdir "$nomod"
		VULNDB="file://$dir/data/osv"
	fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN/govulncheck" -db "$VULNDB" -format json ./... >"$out"
rc=$?
if [ $rc -ne 0 ]; then
	echo "vulncheck: govulncheck failed (exit $rc)"
	cat "$out"
	exit $rc
fi
flags=""
[ "${VULNCHECK_STDLIB:-}" = fatal ] && flags=-stdlib-fatal
(cd tools && $GO run ./vulnsummary $flags) <"$out"
