// Package authz is Nexus's authorization engine: SpiceDB embedded in the
// process, the schema bootstrap, and a Checker API (Check, CheckBulk,
// LookupResources, LookupSubjects, Write and Delete of relationships) with
// Zanzibar consistency tokens on every read and write.
//
// On the embedded default the engine keeps SpiceDB's in-memory datastore and
// makes it durable with a relationship log (see Log): every write is recorded
// in the log's transaction before it is acknowledged, and at start the
// datastore is rebuilt from the log. A caller may add its own rows to the
// same transaction (WithTx), so a domain change and its relationships commit
// together or not at all.
//
// authz knows nothing of HTTP, paths or users; it speaks objects, relations
// and subjects.
package authz
