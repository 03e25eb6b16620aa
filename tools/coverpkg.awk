# coverpkg.awk: per-package statement coverage from a Go cover profile made
# with -coverpkg over several test binaries. Each binary reports every block
# of every covered package, so a block is counted once, and covered if any
# binary ran it. Prints one line per package (statements, percentage), then
# the service layer against its 90% target, then the total.
#
#   awk -v module=github.com/nexus-authz/nexus -f tools/coverpkg.awk cover.out
#
# A block line is "file:l.c,l.c statements count".
BEGIN {
	# The service layer: packages (or package prefixes ending in /) whose
	# coverage issue 22 asks to be at 90% or more.
	nservice = split("authz identity fileplane/ server/rpc server/spiceapi", service, " ")
	target = 90
}
/^mode:/ { next }
NF == 3 {
	block = $1
	if (!(block in stmts)) {
		stmts[block] = $2
		file = block; sub(/:.*/, "", file)
		pkg = file; sub(/\/[^\/]*$/, "", pkg)
		sub("^" module "/?", "", pkg)
		if (pkg == "") pkg = "."
		pkgof[block] = pkg
		total[pkg] += $2
	}
	if ($3 > 0 && !(block in hit)) {
		hit[block] = 1
		covered[pkgof[block]] += stmts[block]
	}
}
function pct(p) { return total[p] ? 100 * covered[p] / total[p] : 100 }
function inservice(p,    i, s) {
	for (i = 1; i <= nservice; i++) {
		s = service[i]
		if (p == s) return 1
		if (s ~ /\/$/ && index(p, s) == 1 && p !~ /test$/) return 1
	}
	return 0
}
END {
	n = 0
	for (p in total) names[++n] = p
	# insertion sort: awk has no portable sort
	for (i = 2; i <= n; i++) { v = names[i]; for (j = i - 1; j > 0 && names[j] > v; j--) names[j+1] = names[j]; names[j+1] = v }
	printf "%-40s %7s %7s\n", "package", "stmts", "cover"
	for (i = 1; i <= n; i++) {
		p = names[i]; all += total[p]; allc += covered[p]
		printf "%-40s %7d %6.1f%%\n", p, total[p], pct(p)
	}
	printf "%-40s %7d %6.1f%%\n", "total", all, all ? 100 * allc / all : 100
	printf "\nservice layer (target >= %d%%):\n", target
	below = 0
	for (i = 1; i <= n; i++) {
		p = names[i]
		if (!inservice(p)) continue
		ok = pct(p) >= target ? "ok" : "BELOW"
		if (ok != "ok") below++
		printf "  %-38s %6.1f%%  %s\n", p, pct(p), ok
	}
	printf "%d service-layer package(s) below %d%%\n", below, target
}
