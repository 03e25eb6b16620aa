package authz

import (
	"runtime/debug"
	"testing"
)

// Loads that overlap (engines started at once, as tests do) put back the
// GOGC found before the first of them, whichever ends last. Not parallel:
// GOGC is the process's, and a parallel test's engine could start meanwhile.
func TestOverlappingLoadsPutBackTheCollectorsSetting(t *testing.T) {
	was := debug.SetGCPercent(123)
	defer debug.SetGCPercent(was)
	first := collectLessWhileLoading()
	second := collectLessWhileLoading()
	if got := debug.SetGCPercent(startGCPercent); got != startGCPercent {
		t.Fatalf("GOGC while loading = %d, want %d", got, startGCPercent)
	}
	first()
	if got := debug.SetGCPercent(startGCPercent); got != startGCPercent {
		t.Fatalf("GOGC with a load still under way = %d, want %d", got, startGCPercent)
	}
	second()
	if got := debug.SetGCPercent(123); got != 123 {
		t.Fatalf("GOGC after the loads = %d, want 123", got)
	}
}
