package backup

import (
	"database/sql"
	"fmt"
	"strings"
)

// Nexus's own tables, as a dump carries them: the same columns on both
// backends, in an order that inserts each row after the rows it refers to.
//
// Left out, because they are rebuilt or mean nothing in another store:
//   - the search index (search_docs, search_fts, search_zones): every file is
//     queued for the indexer instead, which rebuilds it when the server starts;
//   - the memories' text index and ranking statistics (memory_fts,
//     memory_zones, memory_items.tokens and tsv) and memory_tags: memories
//     are inserted through memory.Store.Insert, which builds them;
//   - perm_token columns: tokens of the source's engine, which the target's
//     cannot read; an empty token is "as fresh as the engine's start", and
//     every imported relationship is there before it starts;
//   - the relationship log and SpiceDB's tables, which the dump carries as
//     relationships and a schema; the PostgreSQL outbox (drained by the
//     export's engine) and node announcements, which are a running node's.

// kind is a column's type in the dump.
type kind int

const (
	kindText kind = iota
	kindInt
	kindReal
	kindBool
	kindBlob
)

type column struct {
	name string
	kind kind
}

// load is how a table's rows go into the target.
type load int

const (
	// loadRows inserts the rows as they are.
	loadRows load = iota
	// loadChunks puts content chunks into the target's chunk store (files
	// in the data dir, or content_chunks on PostgreSQL).
	loadChunks
	// loadMemories inserts memories through memory.Store.Insert.
	loadMemories
)

type table struct {
	name string
	cols []column
	// from is the export's query after SELECT columns; empty reads the
	// table ordered by order.
	from  string
	order string
	load  load
}

func cols(spec string) []column {
	var out []column
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		c := column{name: name}
		switch k {
		case "":
		case "i":
			c.kind = kindInt
		case "r":
			c.kind = kindReal
		case "b":
			c.kind = kindBool
		case "x":
			c.kind = kindBlob
		default:
			panic("backup: column kind " + k)
		}
		out = append(out, c)
	}
	return out
}

// chunksTable is not a table on the embedded default: its chunks are files.
const chunksTable = "content_chunks"

var tables = []table{
	{name: "identity_zones", cols: cols("id name created_at"), order: "id"},
	{name: "identity_users", cols: cols("id zone_id name created_at"), order: "id"},
	{name: "identity_groups", cols: cols("id zone_id name created_at"), order: "id"},
	{name: "identity_api_keys", cols: cols("id user_id description hash:x created_at expires_at revoked_at scope"), order: "id"},
	{name: "content_objects", cols: cols("hash:x size:i chunk_count:i created_at"), order: "hash"},
	{name: "content_object_chunks", cols: cols("object_hash:x seq:i chunk_hash:x size:i"), order: "object_hash, seq"},
	{name: chunksTable, cols: cols("hash:x data:x"), load: loadChunks},
	{name: "paths_entries", cols: cols("id zone_id parent_id name kind size:i content_hash version:i media_type created_by created_at modified_by modified_at"),
		// Parents before children: the parent_id reference is checked at
		// each insert.
		from: `paths_entries t JOIN (
			WITH RECURSIVE tree (id, depth) AS (
				SELECT id, 0 FROM paths_entries WHERE parent_id IS NULL
				UNION ALL
				SELECT e.id, tree.depth + 1 FROM paths_entries e JOIN tree ON e.parent_id = tree.id)
			SELECT id, depth FROM tree) d ON d.id = t.id
			ORDER BY d.depth, t.id`},
	{name: "versions_versions", cols: cols("entry_id version:i content_hash size:i media_type created_by created_at"), order: "entry_id, version"},
	{name: "files_meta", cols: cols("name value:x"), order: "name"},
	{name: "files_uploads", cols: cols("id zone_id user_id path size:i expected_version:i create_parents:b media_type created_at expires_at"), order: "id"},
	{name: "files_upload_parts", cols: cols("upload_id offset:i size:i content_hash"), order: `upload_id, "offset"`},
	{name: "sharing_links", cols: cols("id zone_id entry_id entry_kind role token_hash:x password_hash created_by created_at expires_at max_uses:i uses:i revoked_at"), order: "id"},
	{name: "sharing_link_access", cols: cols("id:i link_id at remote_addr user_agent action outcome"), order: "id"},
	{name: "memory_items", cols: cols("id zone_id owner_id author_id scope text tags metadata importance:r created_at expires_at"), order: "rid", load: loadMemories},
}

// identityColumns are the PostgreSQL identity columns a dump sets, whose
// sequences must be moved past the rows imported.
var identityColumns = map[string]string{"sharing_link_access": "id"}

// derivedTables must be empty in a target too, though a dump carries none
// of their rows.
var derivedTables = []string{"memory_tags", "search_docs", "search_queue"}

func tableNamed(name string) (table, bool) {
	for _, t := range tables {
		if t.name == name {
			return t, true
		}
	}
	return table{}, false
}

// selectSQL is the export's query of t.
func (t table) selectSQL() string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = `t."` + c.name + `"`
	}
	q := "SELECT " + strings.Join(names, ", ") + " FROM "
	if t.from != "" {
		return q + t.from
	}
	return q + t.name + " t ORDER BY " + t.order
}

// scanDest returns where a row of t is scanned to, and how to read the
// values back for the dump.
func (t table) scanDest() ([]any, func() []any) {
	dest := make([]any, len(t.cols))
	for i, c := range t.cols {
		switch c.kind {
		case kindText:
			dest[i] = new(sql.NullString)
		case kindInt:
			dest[i] = new(sql.NullInt64)
		case kindReal:
			dest[i] = new(sql.NullFloat64)
		case kindBool:
			dest[i] = new(sql.NullBool)
		case kindBlob:
			dest[i] = new([]byte)
		}
	}
	return dest, func() []any {
		row := make([]any, len(dest))
		for i, d := range dest {
			switch d := d.(type) {
			case *sql.NullString:
				row[i] = nullable(d.String, d.Valid)
			case *sql.NullInt64:
				row[i] = nullable(d.Int64, d.Valid)
			case *sql.NullFloat64:
				row[i] = nullable(d.Float64, d.Valid)
			case *sql.NullBool:
				row[i] = nullable(d.Bool, d.Valid)
			case *[]byte:
				if *d != nil {
					row[i] = *d // JSON: base64
				}
			}
		}
		return row
	}
}

func nullable[T any](v T, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

// columnsOf checks the columns a dump names for t and returns them as t's:
// every one known, none twice. Columns of t the dump leaves out take their
// defaults (a dump of an older nexus).
func (t table) columnsOf(names []string) ([]column, error) {
	seen := map[string]bool{}
	out := make([]column, len(names))
	for i, n := range names {
		found := false
		for _, c := range t.cols {
			if c.name == n {
				out[i], found = c, true
			}
		}
		if !found {
			return nil, fmt.Errorf("table %s has no column %q that this nexus knows (a dump of a newer nexus?)", t.name, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("table %s names column %q twice", t.name, n)
		}
		seen[n] = true
	}
	return out, nil
}
