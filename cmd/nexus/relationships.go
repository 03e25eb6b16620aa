package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"connectrpc.com/connect"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/authzed/spicedb/pkg/tuple"
	"github.com/spf13/cobra"
)

// Relationships in bulk, over the SpiceDB API the server serves: one
// relationship a line, as zed writes them (document:d1#viewer@user:alice,
// group:eng#member@group:design#member).

// importBatch is how many relationships one message of an import carries.
const importBatch = 1000

func (c *client) spiceURL(procedure string) string { return c.base() + procedure }

// streamClient has no overall timeout: an import or export lasts as long as
// its data.
func (c *client) streamClient() *http.Client { return &http.Client{} }

func newImportCmd(cl *client) *cobra.Command {
	var store storeFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Create the relationships in FILE (- for stdin), one a line, all or none",
		Long: `Create the relationships in FILE (- reads stdin), one a line as zed writes
them; blank lines and lines starting with // are skipped:

  document:d1#viewer@user:alice
  document:d1#parent@folder:f1
  group:eng#member@group:design#member

The import is atomic: if any relationship exists already, is named twice,
or is refused (the schema, the key's scope), none is created. It streams
through the SpiceDB API's ImportBulkRelationships, so it takes a service key
of scope write (nexus admin key create --user NAME --scope write). Examples:
  nexus import rels.txt
  nexus export --type document | nexus import -

With --all, FILE is a dump of nexus export --all, imported offline into an
empty store: a new or empty --data-dir, or with --postgres a new database
(migrated first). It is all or nothing: a dump cut short, altered, or of a
newer nexus is refused and leaves the target as it was. The imported store
answers every question as the exported one did, with the same API keys:
  nexus import --all backup.jsonl --data-dir /srv/nexus-restored
  nexus import --all backup.jsonl --postgres postgres://nexus@db/nexus`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.check(cmd); err != nil {
				return err
			}
			if store.all {
				return cl.importAll(cmd, &store, args[0])
			}
			in := io.Reader(os.Stdin)
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return cl.importRelationships(cmd.Context(), args[0], in)
		},
	}
	store.add(cmd, "into an empty store")
	return cmd
}

func (c *client) importRelationships(ctx context.Context, name string, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a failed read abandons the import: nothing is created
	stream := connect.NewClient[v1.ImportBulkRelationshipsRequest, v1.ImportBulkRelationshipsResponse](
		c.streamClient(), c.spiceURL("/authzed.api.v1.PermissionsService/ImportBulkRelationships"),
		c.options()...).CallClientStream(ctx)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	batch := &v1.ImportBulkRelationshipsRequest{}
	send := func() error {
		if len(batch.Relationships) == 0 {
			return nil
		}
		err := stream.Send(batch)
		batch = &v1.ImportBulkRelationshipsRequest{}
		if errors.Is(err, io.EOF) {
			_, err = stream.CloseAndReceive() // the server's reason
		}
		return err
	}
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "//") {
			continue
		}
		rel, err := tuple.ParseV1Rel(text)
		if err != nil {
			return fmt.Errorf("%s:%d: %q is not a relationship (want type:id#relation@type:id or @type:id#relation): %w", name, line, text, err)
		}
		batch.Relationships = append(batch.Relationships, rel)
		if len(batch.Relationships) == importBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := send(); err != nil {
		return err
	}
	resp, err := stream.CloseAndReceive()
	if err != nil {
		return err
	}
	if c.printJSON(resp.Msg) {
		return nil
	}
	fmt.Fprintf(c.out, "imported %d relationships\n", resp.Msg.GetNumLoaded())
	return nil
}

func newExportCmd(cl *client) *cobra.Command {
	var typ, output string
	var store storeFlags
	cmd := &cobra.Command{
		Use:   "export [--type TYPE] | export --all [--output FILE]",
		Short: "Print relationships, one a line, as import reads them",
		Long: `Print relationships one a line, as nexus import reads them: those of
definition TYPE, or every relationship (Nexus's own definitions, and every
type, take an operator's key). Examples:
  nexus export --type document > documents.txt
  nexus export > backup.txt

With --all, print a dump of the whole store, read offline from its data
dir or database (as nexus serve opens it): the schema, every relationship
and Nexus's own tables (zones, users, groups, hashed API keys, files and
their content and versions, shares, links, memories), one JSON value a
line, ended by a checksummed line. nexus import --all reads it. A data dir
is read from a snapshot, so a running server is neither disturbed nor
needed; --output FILE.gz compresses. Examples:
  nexus export --all --data-dir /srv/nexus-data --output backup.jsonl.gz
  nexus export --all --postgres postgres://nexus@db/nexus > backup.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := store.check(cmd, "type"); err != nil {
				return err
			}
			if store.all {
				return cl.exportAll(cmd, &store, output)
			}
			req := &v1.ExportBulkRelationshipsRequest{
				Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}}
			if typ != "" {
				req.OptionalRelationshipFilter = &v1.RelationshipFilter{ResourceType: typ}
			}
			stream, err := connect.NewClient[v1.ExportBulkRelationshipsRequest, v1.ExportBulkRelationshipsResponse](
				cl.streamClient(), cl.spiceURL("/authzed.api.v1.PermissionsService/ExportBulkRelationships"),
				cl.options()...).CallServerStream(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return err
			}
			defer stream.Close()
			out := bufio.NewWriter(cl.out)
			defer out.Flush()
			for stream.Receive() {
				for _, rel := range stream.Msg().GetRelationships() {
					s, err := tuple.V1StringRelationship(rel)
					if err != nil {
						return err
					}
					fmt.Fprintln(out, s)
				}
			}
			return stream.Err()
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "only relationships of this definition")
	cmd.Flags().StringVarP(&output, "output", "o", "", "with --all: write the dump to FILE (whole or not at all; .gz compresses) instead of stdout")
	store.add(cmd, "from its data dir or database")
	return cmd
}
