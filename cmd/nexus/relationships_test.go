package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
)

// TestImportAndExportRoundTrip: nexus import creates a file's
// relationships all or none, nexus export prints them back as import
// reads them, and both say what is wrong in one line.
func TestImportAndExportRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := serve(t, dir)
	admin := adminKey(t, dir)
	code, w, errOut := cli(p.url, admin, "admin", "key", "create", "--user", "admin", "--scope", "write")
	require.Equal(t, 0, code, errOut)
	writer := strings.TrimSpace(w)

	// A service's definitions, through the SpiceDB API.
	schema := connect.NewClient[v1.ReadSchemaRequest, v1.ReadSchemaResponse](http.DefaultClient,
		p.url+"/authzed.api.v1.SchemaService/ReadSchema", connect.WithInterceptors(bearer(writer)))
	cur, err := schema.CallUnary(context.Background(), connect.NewRequest(&v1.ReadSchemaRequest{}))
	require.NoError(t, err)
	_, err = connect.NewClient[v1.WriteSchemaRequest, v1.WriteSchemaResponse](http.DefaultClient,
		p.url+"/authzed.api.v1.SchemaService/WriteSchema", connect.WithInterceptors(bearer(writer))).
		CallUnary(context.Background(), connect.NewRequest(&v1.WriteSchemaRequest{Schema: cur.Msg.GetSchemaText() + `
definition svcuser {}
definition svcdoc {
    relation viewer: svcuser | svcgroup#member
    permission view = viewer
}
definition svcgroup {
    relation member: svcuser
}`}))
	require.NoError(t, err)

	var want []string
	file := "// documents\n\n"
	for i := range 2500 {
		line := fmt.Sprintf("svcdoc:d%d#viewer@svcuser:u%d", i, i%7)
		if i%10 == 0 {
			line = fmt.Sprintf("svcdoc:d%d#viewer@svcgroup:g1#member", i)
		}
		want = append(want, line)
		file += line + "\n"
	}
	sort.Strings(want)
	write := func(name, text string) string {
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		return path
	}
	exported := func() []string {
		t.Helper()
		code, out, errOut := cli(p.url, writer, "export", "--type", "svcdoc")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		sort.Strings(lines)
		return lines
	}

	code, out, errOut := cli(p.url, writer, "import", write("rels.txt", file))
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "imported 2500 relationships\n", out)
	require.Equal(t, want, exported(), "export prints what was imported, as import reads it")

	for _, tc := range []struct {
		name, text, key, says string
	}{
		{"all of it again", file, writer, "already_exists: could not CREATE relationship `svcdoc:d0#viewer@svcgroup:g1#member`"},
		{"a line that is not a relationship", "svcdoc:d9000#viewer@svcuser:u1\nsvcdoc:d9001 viewer svcuser:u1\n", writer,
			`bad.txt:2: "svcdoc:d9001 viewer svcuser:u1" is not a relationship`},
		{"a relation the schema lacks", "svcdoc:d9000#viewer@svcuser:u1\nsvcdoc:d9001#owner@svcuser:u1\n", writer, "owner"},
		{"Nexus's own definitions", "svcdoc:d9000#viewer@svcuser:u1\nzone:default#admin@user:mallory\n", writer, "relationships of zone are Nexus's own"},
		{"a user's key", "svcdoc:d9000#viewer@svcuser:u1\n", admin, "use a service key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(p.url, tc.key, "import", write("bad.txt", tc.text))
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tc.says)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %s", errOut)
			require.Equal(t, want, exported(), "a failed import creates nothing")
		})
	}

	t.Run("an export of every type takes an operator's key", func(t *testing.T) {
		code, out, errOut := cli(p.url, writer, "export")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "svcdoc:d1#viewer@svcuser:u1\n")
		require.Contains(t, out, "zone:")
		code, _, errOut = cli(p.url, admin, "export")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "use a service key")
	})
}
