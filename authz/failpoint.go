package authz

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
)

// crashAt is NEXUS_TEST_CRASH_AT, for the crash tests of cmd/nexus, which
// kill a real `nexus serve` between the two commits of a write on
// PostgreSQL: "point" or "point:substring", where substring must occur in
// the write's recorded operations (JSON) for the point to fire. Points:
// outbox-recorded (our rows and the outbox row committed, SpiceDB not yet
// written), outbox-applied (SpiceDB written, the outbox row not yet
// deleted). Unset in production.
var crashAt = os.Getenv("NEXUS_TEST_CRASH_AT")

// failpoint kills the process with SIGKILL, as a crash would, if crashAt
// names point and matches ops.
func failpoint(point string, ops []outboxOp) {
	if crashAt == "" {
		return
	}
	name, match, _ := strings.Cut(crashAt, ":")
	if name != point {
		return
	}
	if match != "" {
		text, _ := json.Marshal(ops)
		if !strings.Contains(string(text), match) {
			return
		}
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
