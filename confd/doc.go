// Package confd is the generic template engine behind calico-node -confd: it loads template resources
// (conf.d/*.toml), renders their templates over a key view supplied by a Source, writes each result through a
// staged file that is checked (check_cmd) before it atomically replaces the destination, and runs reload_cmd
// only when the destination really changed. Where the keys come from is not its business: the Source interface
// is implemented elsewhere (the Calico backend builds the /calico/bgp/v1 view).
//
// The middle is pure: ParseResource, ParseTemplate, Resource.Select and Render take data and return data.
// Sync is the edge that touches files and runs commands; Engine drives Sync from Source changes and from
// edits of the templates and resources on disk.
package confd
