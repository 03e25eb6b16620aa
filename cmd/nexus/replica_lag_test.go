package main

import (
	"testing"
)

// A --max-replica-lag (or NEXUS_MAX_REPLICA_LAG) that is not a positive
// duration is refused at start, in one line that names it.
func TestServeRefusesABadMaxReplicaLag(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"negative", "", []string{"--max-replica-lag", "-1s"}, "--max-replica-lag -1s: give a positive duration"},
		{"zero", "", []string{"--max-replica-lag", "0"}, "--max-replica-lag 0s: give a positive duration"},
		{"not a duration", "", []string{"--max-replica-lag", "soon"}, `invalid argument "soon" for "--max-replica-lag"`},
		{"bad env", "half a second", nil, `NEXUS_MAX_REPLICA_LAG="half a second": not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NEXUS_MAX_REPLICA_LAG", tc.env)
			code, _, errOut := nexus(append([]string{"serve", "--data-dir", dir, "--addr", "127.0.0.1:0"}, tc.args...)...)
			requireOneLine(t, code, errOut, tc.want)
		})
	}
}
