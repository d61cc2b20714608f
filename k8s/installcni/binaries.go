package installcni

import (
	"fmt"
	"path/filepath"
	"slices"
)

// Digest identifies a file's content.
type Digest struct {
	Size int64
	Sum  [32]byte // SHA-256
}

// Binary is a CNI binary shipped in the image.
type Binary struct {
	Name   string
	Path   string // the file to copy (symlinks resolved: calico-ipam is a copy of calico, not a link)
	Digest Digest
}

// BinDir is a destination directory and what it already holds, by name, for the shipped binaries' names.
type BinDir struct {
	Path     string
	Existing map[string]Digest
}

// BinaryCopy is one binary to write.
type BinaryCopy struct {
	Binary
	Dir string
}

// Dest is where the copy ends up.
func (c BinaryCopy) Dest() string { return filepath.Join(c.Dir, c.Name) }

// BinaryNote is a decision not to write a binary, for the log.
type BinaryNote struct {
	Dest, Why string
}

// PlanBinaries decides which binaries to write into which directories: none named in skip; none whose
// destination already holds the same content; with update false, none whose destination already exists.
func PlanBinaries(sources []Binary, dirs []BinDir, skip []string, update bool) (copies []BinaryCopy, notes []BinaryNote) {
	for _, d := range dirs {
		for _, b := range sources {
			dest := filepath.Join(d.Path, b.Name)
			have, exists := d.Existing[b.Name]
			switch {
			case slices.Contains(skip, b.Name):
				notes = append(notes, BinaryNote{dest, fmt.Sprintf("%s is in SKIP_CNI_BINARIES, skipping", b.Name)})
			case exists && have == b.Digest:
				notes = append(notes, BinaryNote{dest, dest + " is up to date"})
			case exists && !update:
				notes = append(notes, BinaryNote{dest, dest + " is already here and UPDATE_CNI_BINARIES isn't true, skipping"})
			default:
				copies = append(copies, BinaryCopy{Binary: b, Dir: d.Path})
			}
		}
	}
	return copies, notes
}
