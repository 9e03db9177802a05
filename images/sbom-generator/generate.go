package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/anchore/syft/syft"
	"github.com/anchore/syft/syft/cataloging"
	"github.com/anchore/syft/syft/cataloging/pkgcataloging"
	"github.com/anchore/syft/syft/format"
	"github.com/anchore/syft/syft/format/spdxjson"
	"github.com/anchore/syft/syft/source"
	"github.com/anchore/syft/syft/source/directorysource"
)

// BuildKit's generator contract (frontend/attestations/sbom).
const (
	envSource      = "BUILDKIT_SCAN_SOURCE"
	envExtras      = "BUILDKIT_SCAN_SOURCE_EXTRAS"
	envDestination = "BUILDKIT_SCAN_DESTINATION"

	// coreName is the file stem BuildKit treats as the image's own SBOM
	// (it lists it first and adds each file's layer); extras keep the
	// name of their mount (sbom-<context>).
	coreName = "sbom"
)

// In-toto statement header as BuildKit's attestations carry it.
const (
	statementType = "https://in-toto.io/Statement/v0.1"
	predicateSPDX = "https://spdx.dev/Document"
	spdxVersion   = "2.3"
)

// toolName and toolVersion go into the SPDX creators.
const (
	toolName    = "slipway-sbom-generator"
	toolVersion = "syft-v1.57.2"
)

// run scans the source and the extras named by getenv and writes one
// statement per scanned tree to the destination.
func run(ctx context.Context, getenv func(string) string) error {
	src, dst := getenv(envSource), getenv(envDestination)
	if src == "" || dst == "" {
		return fmt.Errorf("%s and %s must be set (BuildKit sets them when it runs a generator for attest:sbom)", envSource, envDestination)
	}
	if fi, err := os.Stat(dst); err != nil {
		return fmt.Errorf("destination: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("destination %s is not a directory", dst)
	}
	scans := []struct{ name, dir string }{{coreName, src}}
	if extras := getenv(envExtras); extras != "" {
		entries, err := os.ReadDir(extras)
		if err != nil {
			return fmt.Errorf("extras: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				scans = append(scans, struct{ name, dir string }{e.Name(), filepath.Join(extras, e.Name())})
			}
		}
	}
	for _, s := range scans {
		st, err := statement(ctx, s.dir, s.name)
		if err != nil {
			return fmt.Errorf("scanning %s: %w", s.dir, err)
		}
		// A partial file would make BuildKit fail the whole build on a
		// decoding error; write aside and rename.
		out := filepath.Join(dst, s.name+".spdx.json")
		if err := os.WriteFile(out+".tmp", st, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
	}
	return nil
}

// statement catalogues the tree at dir and returns an in-toto statement
// whose predicate is its SPDX 2.3 JSON document. The subject stays empty:
// BuildKit fills in the image it attests.
func statement(ctx context.Context, dir, name string) ([]byte, error) {
	doc, err := spdxDocument(ctx, dir, name)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Type          string            `json:"_type"`
		PredicateType string            `json:"predicateType"`
		Subject       []json.RawMessage `json:"subject"`
		Predicate     json.RawMessage   `json:"predicate"`
	}{statementType, predicateSPDX, []json.RawMessage{}, doc})
}

// catalogerTags select syft's catalogers. A built image is both an
// installed system (dpkg database, Go binaries' buildinfo, jars,
// node_modules, site-packages: "image") and a tree of declared
// dependencies (go.mod, pom.xml, package-lock.json, requirements.txt:
// "directory"); the union covers both.
var catalogerTags = []string{pkgcataloging.ImageTag, pkgcataloging.DirectoryTag}

// withoutCatalogers are left out: syft's rpm database cataloger needs an
// SQL driver registered (modernc.org/sqlite, a large compile) for newer
// rpm databases, and refuses to run at all without one. Slipway's images
// are Debian-based; rpm archives are still catalogued.
var withoutCatalogers = []string{"rpm-db-cataloger"}

func spdxDocument(ctx context.Context, dir, name string) ([]byte, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	src, err := directorysource.New(directorysource.Config{
		Path:  dir,
		Base:  dir, // paths in the SBOM are the image's own (/usr/...), not the mount's
		Alias: source.Alias{Name: name},
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	cfg := syft.DefaultCreateSBOMConfig().
		WithTool(toolName, toolVersion).
		// File digests of a whole rootfs cost minutes and bloat the
		// attestation; packages are what the policy reads.
		WithoutFiles().
		WithCatalogerSelection(cataloging.NewSelectionRequest().WithDefaults(catalogerTags...).WithRemovals(withoutCatalogers...))
	s, err := syft.CreateSBOM(ctx, src, cfg)
	if err != nil {
		return nil, fmt.Errorf("cataloguing: %w", err)
	}
	enc, err := spdxjson.NewFormatEncoderWithConfig(spdxjson.EncoderConfig{Version: spdxVersion, DefaultVersion: spdxVersion})
	if err != nil {
		return nil, err
	}
	doc, err := format.Encode(*s, enc)
	if err != nil {
		return nil, fmt.Errorf("encoding SPDX: %w", err)
	}
	doc = bytes.TrimSpace(doc)
	if !json.Valid(doc) {
		return nil, errors.New("encoder produced invalid JSON")
	}
	return doc, nil
}
