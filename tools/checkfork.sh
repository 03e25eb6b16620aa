#!/usr/bin/env bash
# tools/checkfork.sh (make checkfork): fails when authz/memdb is no longer
# exactly "SpiceDB (the version in go.mod) + import rewrite + gofmt +
# authz/memdb/fork.patch, plus our nexus_*.go files". The lists of copied
# files and the rewrite are tools/syncfork.sh's (sourced). Checks:
#
#  (a) version: NOTICE's SpiceDB version (its first line) equals go.mod's
#      github.com/authzed/spicedb version; every "SpiceDB vX" and
#      "github.com/authzed/spicedb vX" in NOTICE, and fork.patch's first
#      line, name that same version.
#  (b) copied files: the upstream files (at NOTICE's version) are copied,
#      rewritten and gofmt'ed into a temporary directory and fork.patch is
#      applied there (patch --fuzz=0); every copied file must then equal ours
#      byte for byte, and fork.patch must be exactly what
#      `tools/syncfork.sh --update-patch` would write. LICENSE must equal
#      upstream's.
#  (c) no stray files: every file under authz/memdb is a copied file (listed
#      in tools/syncfork.sh), ours (nexus_*.go, including nexus_*_test.go),
#      NOTICE, LICENSE or fork.patch, or a *_test.go whose name is not that
#      of an upstream file in the matching upstream directory (those must be
#      listed as copied, so that they are checked). Upstream .go files in a
#      directory copied whole must be copied or listed in SKIPPED.
#  (d) marked changes. The rule "every changed line carries a nexus: marker"
#      cannot hold for removed lines and the edits forced by the compiler,
#      so the rule is, precisely: split every hunk of the patch (diff -u, 3
#      lines of context) into change groups, each a maximal run of
#      consecutive removed/added lines. Every change group must
#        1. have an added line with a `nexus:` comment (`//` ... `nexus:`),
#           which marks the whole group (a marked block); or
#        2. only remove/add lines inside the import block (of the upstream
#           file for removed lines, of ours for added ones): imports follow
#           the code; or
#        3. have as many added as removed lines, each added line equal to
#           its removed one once `*memdb.Txn` is read as `*txn` and runs of
#           blanks as one blank (the transaction type nexus_rels.go wraps,
#           and gofmt's realignment).
#      A new change needs a `// nexus: why` comment on one of its added
#      lines. (A change that touches a marked one falls in its group: the
#      patch's diff in review is what shows it.)
#
# Needs bash 4, GNU diff and patch, gofmt and go (the module cache holds
# SpiceDB already, as the build needs it).
#
# Exit status 0 when all hold; otherwise 1, after a message per failure that
# says what to do.
set -euo pipefail
# shellcheck source=tools/syncfork.sh
source "$(dirname "${BASH_SOURCE[0]}")/syncfork.sh"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failed=0
fail() {
	failed=1
	echo "checkfork: FAIL $*" >&2
}

cd "$ROOT"
gomod=$(gomod_version)
notice=$(notice_version)

# (a) versions
if [[ -z $notice ]]; then
	fail "(a): $FORK/NOTICE's first line does not say \"derived from SpiceDB vX.Y.Z\"; restore it"
	notice=$gomod
elif [[ $notice != "$gomod" ]]; then
	fail "(a): go.mod requires $MODULE $gomod but $FORK is SpiceDB $notice (NOTICE).
    After an upgrade of SpiceDB, run tools/syncfork.sh to re-sync the fork with $gomod
    (it re-applies fork.patch, or leaves .rej files and says what to do)."
fi
others=$(grep -oE "(SpiceDB|$MODULE) v[0-9][^ ,;)]*" "$FORK/NOTICE" | awk '{print $2}' | sort -u | grep -vxF "$notice" || true)
if [[ -n $others ]]; then
	fail "(a): $FORK/NOTICE names SpiceDB $notice on its first line but also" $others"; make them one version"
fi
patchver=$(sed -n '1s/.*copied from SpiceDB \(v[^ ]*\)$/\1/p' "$PATCH" 2>/dev/null || true)
if [[ -f $PATCH && $patchver != "$notice" ]]; then
	fail "(a): $PATCH was made against SpiceDB ${patchver:-(no version in its first line)}, NOTICE says $notice; run tools/syncfork.sh --update-patch"
fi

mod=$(module_dir "$notice")

# (c) stray files
declare -A listed=() updir=()
while read -r here up; do
	listed[$here]=$up
	updir[$(dirname "$here")]=$(dirname "$up")
done < <(copied_files)
while IFS= read -r f; do
	[[ -n ${listed[$f]:-} ]] && continue
	base=${f##*/}
	case $f in
	"$FORK/NOTICE" | "$FORK/LICENSE" | "$PATCH") continue ;;
	esac
	[[ $base == nexus_*.go ]] && continue
	dir=$(dirname "$f")
	if [[ $base == *_test.go ]]; then
		if [[ -z ${updir[$dir]:-} || ! -e $mod/${updir[$dir]}/$base ]]; then
			continue
		fi
		fail "(c): $f has the name of upstream's ${updir[$dir]}/$base but is not listed as copied:
    add it to COPIED in tools/syncfork.sh and run tools/syncfork.sh --update-patch, or rename it nexus_${base}."
		continue
	fi
	fail "(c): $f is neither copied from SpiceDB (COPIED in tools/syncfork.sh) nor ours (nexus_*.go):
    rename our own code nexus_*.go; add a file copied from upstream to COPIED (and run tools/syncfork.sh --update-patch);
    resolve and delete leftover .rej/.orig files."
done < <(find "$FORK" -type f | sort)
while read -r here up; do
	[[ -f $here ]] || fail "(c): $here (copied from upstream $up) is missing; restore it (git checkout), or drop it from COPIED in tools/syncfork.sh and run tools/syncfork.sh --update-patch"
done < <(copied_files)
extra=$(unlisted_upstream "$mod")
if [[ -n $extra ]]; then
	fail "(c): upstream SpiceDB $notice has files that tools/syncfork.sh neither copies nor skips:
$(sed 's/^/    /' <<<"$extra")
    add each to COPIED (and run tools/syncfork.sh) or to SKIPPED with the reason."
fi
if ! cmp -s "$mod/LICENSE" "$FORK/LICENSE"; then
	fail "(b): $FORK/LICENSE is not SpiceDB $notice's LICENSE; copy it again: cp $mod/LICENSE $FORK/LICENSE"
fi

# (b) copied files = upstream + rewrite + gofmt + fork.patch
mkdir "$WORK/pristine" "$WORK/expected"
if ! pristine "$mod" "$WORK/pristine"; then
	fail "(b): cannot rebuild upstream's files (above)"
	exit 1
fi
cp -r "$WORK/pristine/." "$WORK/expected"
patch_ok=1
if [[ ! -f $PATCH ]]; then
	fail "(b): $PATCH is missing; run tools/syncfork.sh --update-patch"
	patch_ok=0
elif ! out=$(cd "$WORK/expected" && patch -p1 --fuzz=0 --forward --no-backup-if-mismatch -r - <"$ROOT/$PATCH" 2>&1); then
	fail "(b): $PATCH does not apply to SpiceDB $notice's files:
$(awk '/^patching file/ { f = $0; next } { if (f) print f; f = ""; print }' <<<"$out" | sed 's/^/    /')
    if go.mod's SpiceDB changed, run tools/syncfork.sh; if fork.patch was edited by hand, run tools/syncfork.sh --update-patch."
	patch_ok=0
fi
same=1
if [[ $patch_ok == 1 ]]; then
	while read -r here up; do
		[[ -f $here ]] || continue
		if ! cmp -s "$WORK/expected/$here" "$here"; then
			same=0
			fail "(b): $here is not SpiceDB $notice's $up + import rewrite + gofmt + fork.patch:
$(diff -u --label "expected/$here" --label "$here" "$WORK/expected/$here" "$here" | head -40 | sed 's/^/    /')
    Someone edited a copied file without updating the patch. If the change is meant, mark it
    (a '// nexus: why' comment on a changed line) and run tools/syncfork.sh --update-patch
    (then commit fork.patch with it); if not, undo it (git checkout -- $here)."
		fi
	done < <(copied_files)
	if [[ $same == 1 ]] && ! make_patch "$WORK/pristine" "$notice" | patch_body | cmp -s - <(patch_body "$PATCH"); then
		fail "(b): $PATCH applies but is not what tools/syncfork.sh --update-patch writes (edited by hand?); run it"
	fi
fi

# (d) every change group is marked (see the header)
make_patch "$WORK/pristine" "$notice" >"$WORK/current.patch"
if ! unmarked=$(awk -v oldroot="$WORK/pristine" -v newroot="$ROOT" '
function imports(path, key,   line, n, inblock) {
	IS[key] = 0; IE[key] = -1; n = 0; inblock = 0
	while ((getline line < path) > 0) {
		n++
		if (!inblock && line ~ /^import \($/) { IS[key] = n; inblock = 1; continue }
		if (inblock && line ~ /^\)$/) { IE[key] = n; break }
		if (!inblock && line ~ /^import [^(]/) { IS[key] = n; IE[key] = n }
	}
	close(path)
}
function norm(s) { gsub(/\*memdb\.Txn/, "*txn", s); gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
function flush(   i, t, ok, imp, nm, np) {
	if (n == 0) return
	ok = 0; imp = 1; nm = 0; np = 0
	for (i = 1; i <= n; i++) {
		t = substr(L[i], 1, 1)
		if (t == "+" && L[i] ~ /\/\/.*nexus:/) ok = 1
		if (t == "-") { if (LN[i] < IS["old"] || LN[i] > IE["old"]) imp = 0; M[++nm] = norm(substr(L[i], 2)) }
		else { if (LN[i] < IS["new"] || LN[i] > IE["new"]) imp = 0; P[++np] = norm(substr(L[i], 2)) }
	}
	if (!ok && imp) ok = 1
	if (!ok && nm == np) { ok = 1; for (i = 1; i <= nm; i++) if (M[i] != P[i]) ok = 0 }
	if (!ok) {
		bad++
		printf "    %s:%d (ours):\n", file, at
		for (i = 1; i <= n; i++) print "      " L[i]
	}
	n = 0
}
/^--- a\// { flush(); next }
/^\+\+\+ b\// { flush(); file = substr($2, 3); imports(oldroot "/" file, "old"); imports(newroot "/" file, "new"); next }
/^@@ / { flush(); split($2, a, /[-,]/); ol = a[2]; split($3, b, /[+,]/); nl = b[2]; next }
/^-/ { if (n == 0) at = nl; L[++n] = $0; LN[n] = ol++; next }
/^\+/ { if (n == 0) at = nl; L[++n] = $0; LN[n] = nl++; next }
/^ / { flush(); ol++; nl++; next }
{ flush() }
END { flush(); exit (bad ? 1 : 0) }
' "$WORK/current.patch"); then
	fail "(d): changes to copied files without a nexus: marker:
$unmarked
    Put a '// nexus: why' comment on an added line of each (see the rule in tools/checkfork.sh),
    then run tools/syncfork.sh --update-patch."
fi

if [[ $failed == 0 ]]; then
	echo "checkfork: ok: $FORK is SpiceDB $notice ($(copied_files | wc -l) copied files) + fork.patch ($(grep -c '^@@' "$PATCH") hunks, every change marked) + our nexus_*.go"
fi
exit "$failed"
