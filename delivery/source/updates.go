package source

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"

	"github.com/consign/consign"
	"github.com/consign/consign/updates"
)

// UpdateFiles finds software update files in a folder of pre-downloaded
// content — the Download Updates Wizard's "network location" (§2.9) — for
// delivery.Site.DownloadUpdates. A file is looked for at <UniqueID>/<Name>
// (the layout DownloadUpdates itself writes), then at <Name>. Links are
// resolved as Open does, never out of the folder. The caller checks the
// bytes against the catalog's hash.
type UpdateFiles struct {
	FS fs.FS
}

// Open returns the file f of update u, or an error matching
// consign.ErrNotFound when the folder holds neither candidate.
func (s UpdateFiles) Open(ctx context.Context, u *updates.Update, f updates.ContentFile) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Name == "" || path.Base(f.Name) != f.Name || f.Name == "." || f.Name == ".." {
		return nil, &consign.ValidationError{Field: "ContentFile.Name", Value: f.Name, Rule: "a plain file name"}
	}
	for _, name := range []string{u.UniqueID + "/" + f.Name, f.Name} {
		r, err := Open(s.FS, name)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, consign.Errorf(consign.ErrNotFound, "UpdateFiles.Open", f.Name, "update %s: file %s is not in the download location", u.UniqueID, f.Name)
}
