package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/consign/consign"
	pkg "github.com/consign/consign/package"
	"github.com/consign/consign/updates"
)

// UpdateContentSource is where DownloadUpdates fetches update files from:
// the Download Location page's "Internet" or "network location" (§2.9). Open
// returns the bytes of one file of an update; DownloadUpdates checks their
// size and SHA-256 against the catalog, so a source need not. A file the
// source does not have gives an error matching consign.ErrNotFound.
type UpdateContentSource interface {
	Open(ctx context.Context, u *updates.Update, f updates.ContentFile) (io.ReadCloser, error)
}

// DownloadRequest is the Download Updates Wizard (§2.9), also run by the
// Update List and Deploy Software Updates wizards when content is missing.
type DownloadRequest struct {
	// Updates are the updates whose files to download.
	Updates []updates.CIID
	// PackageID names an existing deployment package (PackageType 5) of
	// this site to add the files to; or NewPackage describes one to create
	// (name ≤ 50, description ≤ 127, SourcePath: the folder the files are
	// downloaded into) with DistributionPoints to copy it to (§1.14).
	PackageID          consign.ObjectID
	NewPackage         *pkg.Package
	DistributionPoints []string
	// Languages selects the file languages to download (Language
	// Selection page); empty means every language. Language-neutral files
	// are always downloaded.
	Languages []string
	// Source is the download location.
	Source UpdateContentSource
}

// DownloadResult is what DownloadUpdates did.
type DownloadResult struct {
	// Package is the deployment package after the download.
	Package *pkg.Package
	// Files and Bytes count the files fetched; Present counts those the
	// package already held.
	Files, Present int
	Bytes          int64
}

// updateFilePath is where a file of an update lives in a deployment
// package: a folder per update, named by its UniqueID, as ConfigMgr keeps
// one folder per content ID.
func updateFilePath(u *updates.Update, f updates.ContentFile) string {
	return u.UniqueID + "/" + f.Name
}

// DownloadUpdates puts the files of updates into a deployment package and
// records the new package content, so DistributeContent copies it to the
// package's DPs (Download Updates Wizard, §2.9; SMS_SoftwareUpdatesPackage
// AddUpdateContent, §1.14). Files are written into the package's source
// folder (Options.SourceDirs, which Options.Sources must read back), each
// verified against the catalog's size and SHA-256 before it appears there;
// files the package already holds are not fetched again. The whole request is validated first
// and every problem reported; if recording the package fails, the files
// this call added are removed again.
func (s *Site) DownloadUpdates(ctx context.Context, req DownloadRequest) (*DownloadResult, error) {
	s.downloadMu.Lock() // one download into deployment-package sources at a time
	defer s.downloadMu.Unlock()

	var (
		base  *pkg.Package
		todo  []*updates.Update
		probs consign.Problems
	)
	err := s.read("DownloadUpdates", func(st *state) error {
		todo = s.checkDownload(st, req, &probs)
		if req.PackageID != "" {
			if p, ok := st.packages[req.PackageID]; ok {
				base = p.Clone()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	if base == nil {
		base = req.NewPackage.Clone()
		base.Type, base.SourceFlag = pkg.TypeSoftwareUpdates, pkg.StorageDirect
	}
	dir, err := s.opts.SourceDirs(base)
	if err != nil {
		return nil, fmt.Errorf("DownloadUpdates: the deployment package's source folder: %w", err)
	}
	res := &DownloadResult{}
	have := map[string]pkg.File{}
	for _, f := range base.Manifest.Files {
		have[f.Path] = f
	}
	var added []string // files this call wrote, removed again on failure
	cleanup := func() {
		for _, p := range added {
			os.Remove(filepath.Join(dir, filepath.FromSlash(p)))
		}
	}
	for _, u := range todo {
		for _, f := range u.Files {
			if !wantLanguage(f.Language, req.Languages) {
				continue
			}
			p := updateFilePath(u, f)
			if h, ok := have[p]; ok && h.SHA256 == f.SHA256 && h.Size == f.Size {
				res.Present++
				continue
			}
			if err := fetchUpdateFile(ctx, req.Source, u, f, filepath.Join(dir, filepath.FromSlash(p))); err != nil {
				cleanup()
				return nil, fmt.Errorf("DownloadUpdates: update %s (KB%s) file %s: %w", u.UniqueID, u.ArticleID, f.Name, err)
			}
			added = append(added, p)
			have[p] = pkg.File{Path: p, Size: f.Size, SHA256: f.SHA256}
			res.Files++
			res.Bytes += f.Size
		}
	}
	// The new content is the package's manifest plus the files just
	// verified; nothing else needs reading again (the distributor checks the
	// whole source against it before copying).
	m := pkg.Manifest{Files: make([]pkg.File, 0, len(have))}
	for _, f := range have {
		m.Files = append(m.Files, f)
	}
	m = m.Sorted()
	if req.PackageID != "" {
		if len(added) == 0 {
			res.Package = base
			return res, nil
		}
		res.Package, err = s.updateSourceFrom(ctx, "DownloadUpdates", base, m)
	} else {
		err = s.commit(ctx, "DownloadUpdates", func(t *tx) error {
			np := base.Clone()
			np.Manifest = m
			p, err := t.planPackage(np)
			if err != nil {
				return err
			}
			res.Package = p
			return t.planAddToDPs(p.ID, req.DistributionPoints, "DownloadRequest.DistributionPoints")
		})
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	return res, nil
}

// checkDownload validates a download request against the site and returns
// the updates to fetch.
func (s *Site) checkDownload(st *state, req DownloadRequest, probs *consign.Problems) []*updates.Update {
	probs.Check(len(req.Updates) > 0, "DownloadRequest.Updates", "at least one update")
	probs.Check(req.Source != nil, "DownloadRequest.Source", "required: where to download the files from")
	var todo []*updates.Update
	for i, ci := range req.Updates {
		u, ok := st.updates[ci]
		if !ok {
			probs.AddValue(fmt.Sprintf("DownloadRequest.Updates[%d]", i), ci, "must name an update in the catalog")
			continue
		}
		if u.Expired {
			probs.AddValue(fmt.Sprintf("DownloadRequest.Updates[%d]", i), ci, "update "+u.UniqueID+" is expired and can no longer be deployed")
			continue
		}
		todo = append(todo, u)
	}
	switch {
	case req.PackageID != "" && req.NewPackage != nil:
		probs.Add("DownloadRequest.NewPackage", "give either PackageID or NewPackage, not both")
	case req.PackageID != "":
		p, ok := st.packages[req.PackageID]
		switch {
		case !ok:
			probs.AddValue("DownloadRequest.PackageID", req.PackageID, "must name a package of this site")
		case p.Type != pkg.TypeSoftwareUpdates:
			probs.AddValue("DownloadRequest.PackageID", req.PackageID, "must be a deployment package (package type 5, software updates)")
		case p.SourceSite != s.opts.SiteCode:
			probs.AddValue("DownloadRequest.PackageID", req.PackageID, "only packages created at this site can be selected (§1.14)")
		case p.SourcePath == "":
			probs.AddValue("DownloadRequest.PackageID", req.PackageID, "the package has no source folder to download into")
		}
		probs.Check(len(req.DistributionPoints) == 0, "DownloadRequest.DistributionPoints", "only for a new package; add an existing package to DPs with AddPackageToDistributionPoints")
	case req.NewPackage != nil:
		probs.Check(req.NewPackage.SourcePath != "", "DownloadRequest.NewPackage.SourcePath", "required: the folder the files are downloaded into")
		probs.Check(req.NewPackage.Type == pkg.TypeSoftwareUpdates || req.NewPackage.Type == pkg.TypeRegular,
			"DownloadRequest.NewPackage.Type", "a deployment package is package type 5 (software updates)")
		for i, nal := range req.DistributionPoints {
			if _, ok := st.dps[nal]; !ok {
				probs.AddValue(fmt.Sprintf("DownloadRequest.DistributionPoints[%d]", i), nal, "must name a distribution point of this site")
			}
		}
	default:
		probs.Add("DownloadRequest.PackageID", "required: an existing deployment package, or NewPackage")
	}
	return todo
}

// updateSourceFrom records manifest m as the new content of package base,
// failing with a conflict if the package's content changed since base was
// read.
func (s *Site) updateSourceFrom(ctx context.Context, op string, base *pkg.Package, m pkg.Manifest) (*pkg.Package, error) {
	var out *pkg.Package
	err := s.commit(ctx, op, func(t *tx) error {
		cur, ok := t.st.packages[base.ID]
		if !ok {
			return notFound(op, "package "+string(base.ID))
		}
		if cur.SourceVersion != base.SourceVersion {
			return &consign.Error{Code: consign.ErrConflict, Op: op, Key: string(base.ID),
				Err: fmt.Errorf("the package content changed meanwhile (version %d, was %d); download again", cur.SourceVersion, base.SourceVersion)}
		}
		np, err := t.planSourceUpdate(op, base.ID, m)
		out = np
		return err
	})
	return out, err
}

// wantLanguage reports whether a file in language lang is selected by
// langs (empty: all; a language-neutral file always is).
func wantLanguage(lang string, langs []string) bool {
	return lang == "" || len(langs) == 0 || slices.ContainsFunc(langs, func(l string) bool { return strings.EqualFold(l, lang) })
}

// fetchUpdateFile copies one file from src to dst, verifying its size and
// SHA-256 on the way; dst appears only complete and verified.
func fetchUpdateFile(ctx context.Context, src UpdateContentSource, u *updates.Update, f updates.ContentFile, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	r, err := src.Open(ctx, u, f)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+path.Base(f.Name)+".*")
	if err != nil {
		return err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, f.Size+1))
	if err != nil {
		return err
	}
	if n != f.Size {
		return &consign.ValidationError{Field: "ContentFile.Size", Value: n, Rule: fmt.Sprintf("the catalog says %d bytes", f.Size)}
	}
	if got := [32]byte(h.Sum(nil)); got != f.SHA256 {
		return &consign.ValidationError{Field: "ContentFile.SHA256", Value: hex.EncodeToString(got[:]),
			Rule: "content hash mismatch: the catalog says " + hex.EncodeToString(f.SHA256[:])}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	keep = true
	return nil
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
