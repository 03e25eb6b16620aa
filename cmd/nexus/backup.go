package main

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nexus-authz/nexus/server/backup"
)

// export --all and import --all: a whole store, offline, through
// server/backup. The store is picked as nexus serve picks it.

// storeFlags are the flags that name a store, as nexus serve's do.
type storeFlags struct {
	all bool
	st  backup.Store
}

func (s *storeFlags) add(cmd *cobra.Command, verb string) {
	f := cmd.Flags()
	f.BoolVar(&s.all, "all", false, "the whole store, offline: the schema, every relationship and Nexus's own tables ("+verb+")")
	f.StringVar(&s.st.DataDir, "data-dir", envOr("NEXUS_DATA_DIR", "./nexus-data"), "with --all: the embedded default's data dir (env NEXUS_DATA_DIR)")
	f.StringVar(&s.st.Postgres, "postgres", envOr("NEXUS_POSTGRES", ""), "with --all: the PostgreSQL primary's URL instead of a data dir (env NEXUS_POSTGRES)")
	f.StringVar(&s.st.SpiceDBPostgres, "spicedb-postgres", envOr("NEXUS_SPICEDB_POSTGRES", ""), "with --all: URL for SpiceDB's tables, as for nexus serve (env NEXUS_SPICEDB_POSTGRES)")
}

// check refuses the store flags without --all, and --all with the flags
// of a relationship export or import.
func (s *storeFlags) check(cmd *cobra.Command, relFlags ...string) error {
	for _, name := range []string{"data-dir", "postgres", "spicedb-postgres", "output"} {
		if !s.all && cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s takes --all (without it, %s works on a running server's relationships)", name, cmd.CommandPath())
		}
	}
	for _, name := range relFlags {
		if s.all && cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s and --all do not go together", name)
		}
	}
	return nil
}

// progressTo returns a progress printer on w when w is a terminal, and a
// function that ends its line.
func progressTo(w io.Writer, verb string) (func(backup.Progress), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	shown := false
	return func(p backup.Progress) {
			shown = true
			fmt.Fprintf(w, "\r\033[K%s: %s; %d tables, %d rows, %d relationships, %s", verb, p.Phase, p.Tables, p.Rows, p.Relationships, humanSize(p.Bytes))
		}, func() {
			if shown {
				fmt.Fprint(w, "\r\033[K")
			}
		}
}

func summary(p backup.Progress) string {
	return fmt.Sprintf("%d tables (%d rows) and %d relationships, %s", p.Tables, p.Rows, p.Relationships, humanSize(p.Bytes))
}

func (c *client) exportAll(cmd *cobra.Command, s *storeFlags, output string) error {
	w := c.out
	var file *os.File
	if output == "" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return errors.New("export --all writes the dump to stdout, which is a terminal: redirect it (> backup.jsonl) or pass --output FILE")
		}
	} else {
		// A temporary file renamed at the end: FILE is whole, or untouched.
		var err error
		if file, err = os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".tmp-*"); err != nil {
			return fmt.Errorf("--output %s: %w", output, err)
		}
		defer os.Remove(file.Name())
		defer file.Close()
		w = file
	}
	var zw *gzip.Writer
	if strings.HasSuffix(output, ".gz") {
		zw = gzip.NewWriter(w)
		w = zw
	}
	show, done := progressTo(c.errOut, "exporting")
	p, err := backup.Export(cmd.Context(), s.st, w, backup.Options{Progress: show})
	done()
	if err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return err
		}
		if err := file.Close(); err != nil {
			return err
		}
		if err := os.Rename(file.Name(), output); err != nil {
			return err
		}
	}
	if c.json {
		return printJSONTo(c.errOut, p)
	}
	fmt.Fprintln(c.errOut, "exported "+summary(p))
	return nil
}

func (c *client) importAll(cmd *cobra.Command, s *storeFlags, name string) error {
	in := io.Reader(os.Stdin)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	show, done := progressTo(c.errOut, "importing")
	p, err := backup.Import(cmd.Context(), s.st, in, backup.Options{Progress: show})
	done()
	if err != nil {
		if errors.Is(err, backup.ErrFormat) {
			return fmt.Errorf("%s: %w; nothing was imported", name, err)
		}
		return err
	}
	if c.json {
		return printJSONTo(c.out, p)
	}
	where := "data dir " + s.st.DataDir
	next := "nexus serve --data-dir " + s.st.DataDir
	if s.st.Postgres != "" {
		where, next = "the database", "nexus serve --postgres URL"
	}
	fmt.Fprintf(c.out, "imported %s into %s; start it with %s (the API keys of the source work as before; the search index is rebuilt as it starts)\n",
		summary(p), where, next)
	return nil
}

func printJSONTo(w io.Writer, p backup.Progress) error {
	b, err := json.MarshalIndent(map[string]int64{
		"tables": int64(p.Tables), "rows": p.Rows, "relationships": p.Relationships, "bytes": p.Bytes,
	}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
