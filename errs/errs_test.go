package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nexus-authz/nexus/errs"
)

func TestSentinelsAreOfTheirKindAndStillThemselves(t *testing.T) {
	t.Parallel()
	a := errs.Sentinel(errs.Unavailable, "engine unavailable")
	b := errs.Sentinel(errs.Unavailable, "engine unavailable")
	wrapped := fmt.Errorf("check: %w", a)
	if !errors.Is(wrapped, a) || !errors.Is(wrapped, errs.Unavailable) {
		t.Fatalf("%v: want both the sentinel and its kind", wrapped)
	}
	if errors.Is(wrapped, b) {
		t.Fatal("two sentinels of one kind and text are still two errors")
	}
	if errors.Is(wrapped, errs.NotFound) || errors.Is(wrapped, errs.InvalidArgument) {
		t.Fatal("a sentinel is of its kind only")
	}
	if a.Error() != "engine unavailable" {
		t.Fatalf("reads %q", a.Error())
	}
	var e *errs.Error
	if errors.As(wrapped, &e) {
		t.Fatal("a sentinel carries no client message: it is not an *errs.Error")
	}
}
