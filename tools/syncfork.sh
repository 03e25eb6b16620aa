#!/usr/bin/env bash
# tools/syncfork.sh: keeps authz/memdb a fork of SpiceDB's in-memory datastore
# (internal/datastore/memdb and the SpiceDB-internal packages it needs; see
# authz/memdb/NOTICE).
#
# A copied file is always: the upstream file from the SpiceDB version in go.mod
# (Go module cache), with the import rewrite below, gofmt -w, and then
# authz/memdb/fork.patch applied. Our own files (nexus_*.go) are not copied and
# not in the patch.
#
#   tools/syncfork.sh                 re-sync with go.mod's SpiceDB version (after
#                                     an upgrade): copy, rewrite, gofmt, apply
#                                     fork.patch, then regenerate the patch and set
#                                     the version in NOTICE.
#   tools/syncfork.sh --update-patch  regenerate fork.patch from the tree (after a
#                                     deliberate, `// nexus:`-marked edit of a
#                                     copied file, or after resolving .rej files).
#   tools/syncfork.sh --list          print the copied files (here, upstream).
#
# tools/checkfork.sh (make checkfork) sources this file for the same lists and
# functions.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FORK=authz/memdb # relative to ROOT
PATCH=$FORK/fork.patch
MODULE=github.com/authzed/spicedb
export LC_ALL=C

# What is copied: "upstream dir (in the module) | dir here (in $FORK) | whole | files".
# whole=yes: every .go file upstream has there is copied, or listed in SKIPPED
# with the reason (checkfork fails otherwise; a sync warns). whole=no: only
# the files named (of common, what memdb needs: the rest is SQL support;
# not changes_test.go, 1,029 lines of upstream's tests of a file we copy
# unchanged, past this repository's ~600-line rule: checkfork keeps
# changes.go byte for byte upstream's, which upstream's suite tests).
COPIED=(
	"internal/datastore/memdb|.|yes|caveat.go enginebuilder.go errors.go memdb.go readonly.go readwrite.go revisions.go schema.go stats.go storedschema.go watch.go memdb_test.go errors_test.go revisions_test.go"
	"internal/datastore/common|internal/common|no|changes.go sliceiter.go transaction_metadata.go transaction_metadata_test.go"
	"internal/datastore/revisions|internal/revisions|yes|commonrevision.go hlcrevision.go optimized.go remoteclock.go timestamprevision.go txidrevision.go commonrevision_test.go hlcrevision_test.go remoteclock_test.go timestamprevision_test.go txidrevision_test.go"
	"internal/logging|internal/logging|yes|logger.go"
	"internal/telemetry/otelconv|internal/otelconv|yes|otelconv.go"
)

# Upstream files in a whole=yes directory that are deliberately not copied.
SKIPPED=(
	# It uses github.com/stretchr/testify/mock, whose dependency
	# github.com/stretchr/objx is not in go.mod/go.sum.
	"internal/datastore/revisions/optimized_test.go"
)

# The import rewrite (upstream import path -> ours), applied to every copied file.
REWRITE=(
	"github.com/authzed/spicedb/internal/datastore/common|github.com/nexus-authz/nexus/authz/memdb/internal/common"
	"github.com/authzed/spicedb/internal/datastore/revisions|github.com/nexus-authz/nexus/authz/memdb/internal/revisions"
	"github.com/authzed/spicedb/internal/logging|github.com/nexus-authz/nexus/authz/memdb/internal/logging"
	"github.com/authzed/spicedb/internal/telemetry/otelconv|github.com/nexus-authz/nexus/authz/memdb/internal/otelconv"
)

die() {
	echo "syncfork: $*" >&2
	exit 1
}

# gomod_version prints the SpiceDB version go.mod requires.
gomod_version() {
	if grep -Eq "^[[:space:]]*(replace[[:space:]]+)?$MODULE( v[^ ]*)?[[:space:]]+=>" "$ROOT/go.mod"; then
		die "go.mod replaces $MODULE; the fork scripts only know a plain version"
	fi
	local v
	v=$(awk -v m="$MODULE" '($1 == m && $2 ~ /^v/) { print $2 } ($1 == "require" && $2 == m) { print $3 }' "$ROOT/go.mod")
	[[ -n $v ]] || die "no $MODULE requirement in go.mod"
	echo "$v"
}

# notice_version prints the SpiceDB version NOTICE's first line names
# ("This directory is derived from SpiceDB vX.Y.Z").
notice_version() {
	sed -n '1s/.*derived from SpiceDB \(v[^ ]*\).*/\1/p' "$ROOT/$FORK/NOTICE"
}

# module_dir VERSION prints the module's directory in the module cache,
# downloading it if it is not there. When go downloads the zip but will not
# extract it (a SpiceDB that needs a newer Go than this one), the files
# needed are unzipped into $WORK instead.
module_dir() {
	local json field dir zip err out
	json=$(cd "$ROOT" && go mod download -json "$MODULE@$1" 2>&1 || true)
	field() { sed -n 's/^[[:space:]]*"'"$1"'": "\(.*\)",\{0,1\}$/\1/p' <<<"$json" | sed 's/\\u003e/>/g; s/\\u003c/</g'; }
	dir=$(field Dir)
	if [[ -n $dir && -d $dir ]]; then
		echo "$dir"
		return
	fi
	zip=$(field Zip)
	err=$(field Error)
	out=$WORK/module@$1
	if [[ -n $zip && -f $zip && -n ${WORK:-} ]] && command -v unzip >/dev/null; then
		if [[ ! -d $out ]]; then
			echo "syncfork: note: ${err:-go mod download did not extract $MODULE@$1}; using its zip" >&2
			unzip -q "$zip" "$MODULE@$1/internal/*" "$MODULE@$1/LICENSE" -d "$out.tmp" && mv "$out.tmp/$MODULE@$1" "$out"
		fi
		echo "$out"
		return
	fi
	die "cannot get $MODULE@$1 into the module cache: ${err:-$json}"
}

# copied_files prints "here upstream" for every copied file, here relative to
# ROOT and upstream relative to the module root.
copied_files() {
	local entry up here whole files f
	for entry in "${COPIED[@]}"; do
		IFS='|' read -r up here whole files <<<"$entry"
		for f in $files; do
			if [[ $here == . ]]; then
				echo "$FORK/$f $up/$f"
			else
				echo "$FORK/$here/$f $up/$f"
			fi
		done
	done
}

# unlisted_upstream MODDIR prints the .go files of whole=yes upstream
# directories that are neither copied nor SKIPPED.
unlisted_upstream() {
	local mod=$1 entry up here whole files p f
	for entry in "${COPIED[@]}"; do
		IFS='|' read -r up here whole files <<<"$entry"
		[[ $whole == yes ]] || continue
		for p in "$mod/$up"/*.go; do
			f=${p##*/}
			[[ " $files " == *" $f "* ]] && continue
			[[ " ${SKIPPED[*]} " == *" $up/$f "* ]] && continue
			echo "$up/$f"
		done
	done
}

# pristine MODDIR OUT: the copied files as upstream has them, import paths
# rewritten and gofmt'ed, under OUT/ (OUT/authz/memdb/...).
pristine() {
	local mod=$1 out=$2 here up r sedargs=() missing=0
	for r in "${REWRITE[@]}"; do
		sedargs+=(-e "s#\"${r%%|*}\"#\"${r#*|}\"#g")
	done
	while read -r here up; do
		if [[ ! -f $mod/$up ]]; then
			echo "syncfork: upstream ${mod##*@} has no $up (copied as $here): remove it from COPIED in tools/syncfork.sh (and $here) if upstream dropped or moved it" >&2
			missing=1
			continue
		fi
		mkdir -p "$out/$(dirname "$here")"
		sed "${sedargs[@]}" "$mod/$up" >"$out/$here"
	done < <(copied_files)
	[[ $missing == 0 ]] || return 1
	gofmt -w "$out/$FORK"
}

# make_patch BASE VERSION: the unified diff from BASE (a pristine tree) to the
# copied files in ROOT, with a header, on stdout.
make_patch() {
	local base=$1 version=$2 here up
	cat <<EOF
authz/memdb/fork.patch: our changes to the files copied from SpiceDB $version
($MODULE), against upstream after the import rewrite and gofmt (see NOTICE).
Generated by tools/syncfork.sh --update-patch; checked by tools/checkfork.sh.
Do not edit by hand. Apply from the repository root with: patch -p1 < $PATCH

EOF
	while read -r here up; do
		diff -u --label "a/$here" --label "b/$here" "$base/$here" "$ROOT/$here" || [[ $? == 1 ]]
	done < <(copied_files)
}

# patch_body strips make_patch's header (everything before the first "--- ").
patch_body() {
	sed -n '/^--- a\//,$p' "$@"
}

set_notice_version() {
	local old new=$1
	old=$(notice_version)
	[[ -n $old ]] || die "NOTICE's first line does not name the SpiceDB version"
	[[ $old == "$new" ]] && return 0
	sed -i "s|SpiceDB $old|SpiceDB $new|g; s|$MODULE $old|$MODULE $new|g" "$ROOT/$FORK/NOTICE"
	echo "syncfork: NOTICE now names SpiceDB $new (was $old)"
}

update_patch() {
	local version tmp
	version=$(gomod_version)
	[[ $(notice_version) == "$version" ]] || die "NOTICE names SpiceDB $(notice_version), go.mod $version: run tools/syncfork.sh first"
	if [[ -n $(find "$ROOT/$FORK" \( -name '*.rej' -o -name '*.orig' \) -print -quit) ]]; then
		die "resolve and delete the .rej/.orig files under $FORK first"
	fi
	tmp=$(mktemp -d "$WORK/update.XXXX")
	pristine "$(module_dir "$version")" "$tmp"
	make_patch "$tmp" "$version" >"$ROOT/$PATCH.new"
	mv "$ROOT/$PATCH.new" "$ROOT/$PATCH"
	echo "syncfork: wrote $PATCH ($(grep -c '^@@' "$ROOT/$PATCH") hunks) against SpiceDB $version"
}

sync() {
	local new old newmod oldmod tmp here up out rej
	new=$(gomod_version)
	old=$(notice_version)
	newmod=$(module_dir "$new")
	tmp=$(mktemp -d "$WORK/sync.XXXX")

	# Refuse to overwrite edits the patch does not hold.
	if [[ ${FORCE:-} != 1 ]]; then
		oldmod=$(module_dir "$old") || die "cannot check the tree against SpiceDB $old (NOTICE); FORCE=1 skips the check"
		mkdir "$tmp/old"
		pristine "$oldmod" "$tmp/old" || die "cannot rebuild SpiceDB $old's files"
		if ! make_patch "$tmp/old" "$old" | patch_body | cmp -s - <(patch_body "$ROOT/$PATCH"); then
			die "the copied files are not SpiceDB $old + fork.patch (tools/checkfork.sh says how); run tools/syncfork.sh --update-patch first, or FORCE=1 to overwrite them"
		fi
	fi

	mkdir "$tmp/new"
	pristine "$newmod" "$tmp/new" || die "the copied-file list does not match SpiceDB $new; nothing changed"
	while read -r here up; do
		mkdir -p "$ROOT/$(dirname "$here")"
		cp "$tmp/new/$here" "$ROOT/$here"
		chmod u+w,go-w "$ROOT/$here"
	done < <(copied_files)
	echo "syncfork: copied SpiceDB $new's files into $FORK (import rewrite, gofmt)"
	set_notice_version "$new"

	if out=$(cd "$ROOT" && patch -p1 --forward --no-backup-if-mismatch <"$PATCH" 2>&1); then
		echo "$out"
		if grep -q 'fuzz' <<<"$out"; then
			echo "syncfork: some hunks applied with fuzz (above): review them"
		fi
		update_patch
	else
		echo "$out"
		rej=$(cd "$ROOT" && find "$FORK" -name '*.rej' | sort | sed 's/^/  /')
		[[ -n $rej ]] || rej="  (no .rej files: see the messages of patch above)"
		cat >&2 <<EOF

syncfork: fork.patch does not apply cleanly to SpiceDB $new.
The hunks that failed are in:
$rej
The rest of the patch is applied. For each .rej file, make the change it
describes in the file beside it by hand (keep the // nexus: markers), then
delete the .rej file. Then:
  go build ./authz/memdb/... && go test ./authz/memdb/...
  tools/syncfork.sh --update-patch
  tools/checkfork.sh
To start again: git checkout -- $FORK && find $FORK -name '*.rej' -delete (loses uncommitted changes there).
EOF
		exit 1
	fi

	# Upstream files and internal packages the lists do not cover.
	local extra deps
	extra=$(unlisted_upstream "$newmod")
	if [[ -n $extra ]]; then
		echo "syncfork: SpiceDB $new has files the lists in tools/syncfork.sh do not cover; add each to COPIED (then rerun) or SKIPPED:"
		sed 's/^/  /' <<<"$extra"
	fi
	deps=$(cd "$ROOT" && go list -deps "$MODULE/internal/datastore/memdb" | grep "^$MODULE/internal/" |
		grep -Ev "^$MODULE/internal/(datastore/(memdb|common|revisions)|logging|telemetry/otelconv)$" || true)
	if [[ -n $deps ]]; then
		echo "syncfork: upstream memdb now also needs these internal packages; copy them (COPIED, REWRITE, NOTICE):"
		sed 's/^/  /' <<<"$deps"
	fi
	echo "syncfork: next: go build ./authz/memdb/... && go test ./authz/memdb/... && tools/checkfork.sh; update NOTICE if the changes moved"
}

main() {
	WORK=$(mktemp -d)
	trap 'rm -rf "$WORK"' EXIT
	case "${1:-}" in
	"") sync ;;
	--update-patch) update_patch ;;
	--list) copied_files ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
