// Package provenance reads the SLSA provenance BuildKit attaches to an image
// index and checks it against what a promotion expects: the source
// repository, the commit and the builder.
package provenance

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Predicate types BuildKit emits (attest:provenance version=v0.2 or v1).
const (
	PredicateSLSA02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSA1  = "https://slsa.dev/provenance/v1"
)

// Statement is the in-toto statement of one image's provenance, reduced to
// the fields Slipway checks. The predicate is decoded into V02 or V1
// according to PredicateType; exactly one of them is set.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []Subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`

	V02 *PredicateV02 `json:"-"`
	V1  *PredicateV1  `json:"-"`
}

// Subject names an artifact the statement is about, by digest.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Material is an input of the build (base image, git source, ...).
type Material struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

// ConfigSource is where the build definition came from. For a build of a
// git context BuildKit fills URI and a sha1 digest; for a local context it
// only records the Dockerfile path and the source comes from VCS metadata.
type ConfigSource struct {
	URI        string            `json:"uri,omitempty"`
	Digest     map[string]string `json:"digest,omitempty"`
	EntryPoint string            `json:"entryPoint,omitempty"` // v0.2
	Path       string            `json:"path,omitempty"`       // v1
}

// BuildKitMetadata is BuildKit's own metadata block; VCS holds the
// vcs:source / vcs:revision frontend attributes ("source", "revision").
// Source is recorded in mode=max only: the build's definition files, the
// Dockerfile among them, with their contents.
type BuildKitMetadata struct {
	VCS    map[string]string `json:"vcs,omitempty"`
	Source struct {
		Infos []SourceInfo `json:"infos,omitempty"`
	} `json:"source"`
}

// SourceInfo is one file of the build definition as BuildKit recorded it.
type SourceInfo struct {
	Filename string `json:"filename"`
	Language string `json:"language,omitempty"`
	// Data is the file's content (base64 in the JSON).
	Data []byte `json:"data,omitempty"`
}

// PredicateV02 is the subset of a SLSA v0.2 predicate Slipway reads.
type PredicateV02 struct {
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	BuildType  string `json:"buildType"`
	Invocation struct {
		ConfigSource ConfigSource `json:"configSource"`
	} `json:"invocation"`
	Materials []Material `json:"materials"`
	Metadata  struct {
		BuildKit BuildKitMetadata `json:"https://mobyproject.org/buildkit@v1#metadata"`
	} `json:"metadata"`
}

// PredicateV1 is the subset of a SLSA v1 predicate Slipway reads.
type PredicateV1 struct {
	BuildDefinition struct {
		BuildType          string `json:"buildType"`
		ExternalParameters struct {
			ConfigSource ConfigSource `json:"configSource"`
			Request      struct {
				Frontend string            `json:"frontend,omitempty"`
				Args     map[string]string `json:"args,omitempty"`
			} `json:"request"`
		} `json:"externalParameters"`
		ResolvedDependencies []Material `json:"resolvedDependencies"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
		Metadata struct {
			BuildKit BuildKitMetadata `json:"buildkit_metadata"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// Parse decodes an in-toto statement carrying a SLSA v0.2 or v1 predicate.
func Parse(data []byte) (*Statement, error) {
	var st Statement
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("decoding in-toto statement: %w", err)
	}
	if len(st.Predicate) == 0 {
		return nil, fmt.Errorf("in-toto statement has no predicate")
	}
	switch st.PredicateType {
	case PredicateSLSA02:
		st.V02 = &PredicateV02{}
		if err := json.Unmarshal(st.Predicate, st.V02); err != nil {
			return nil, fmt.Errorf("decoding SLSA v0.2 predicate: %w", err)
		}
	case PredicateSLSA1:
		st.V1 = &PredicateV1{}
		if err := json.Unmarshal(st.Predicate, st.V1); err != nil {
			return nil, fmt.Errorf("decoding SLSA v1 predicate: %w", err)
		}
	default:
		return nil, fmt.Errorf("unsupported predicate type %q (want %s or %s)", st.PredicateType, PredicateSLSA02, PredicateSLSA1)
	}
	return &st, nil
}

// BuilderID is the builder.id the provenance names (empty when BuildKit was
// not given a builder-id).
func (s *Statement) BuilderID() string {
	switch {
	case s.V02 != nil:
		return s.V02.Builder.ID
	case s.V1 != nil:
		return s.V1.RunDetails.Builder.ID
	}
	return ""
}

// ConfigSource returns the recorded origin of the build definition.
func (s *Statement) ConfigSource() ConfigSource {
	switch {
	case s.V02 != nil:
		return s.V02.Invocation.ConfigSource
	case s.V1 != nil:
		return s.V1.BuildDefinition.ExternalParameters.ConfigSource
	}
	return ConfigSource{}
}

// Materials returns the build inputs (v0.2 materials, v1 resolvedDependencies).
func (s *Statement) Materials() []Material {
	switch {
	case s.V02 != nil:
		return s.V02.Materials
	case s.V1 != nil:
		return s.V1.BuildDefinition.ResolvedDependencies
	}
	return nil
}

// Dockerfile is the Dockerfile the image was built from, as BuildKit
// recorded it in the provenance (mode=max): its name and content. ok is
// false when the provenance holds none (mode=min, another frontend).
func (s *Statement) Dockerfile() (filename string, content []byte, ok bool) {
	var infos []SourceInfo
	switch {
	case s.V02 != nil:
		infos = s.V02.Metadata.BuildKit.Source.Infos
	case s.V1 != nil:
		infos = s.V1.RunDetails.Metadata.BuildKit.Source.Infos
	}
	for _, in := range infos {
		if in.Language == "Dockerfile" && len(in.Data) > 0 {
			return in.Filename, in.Data, true
		}
	}
	return "", nil, false
}

func (s *Statement) vcs() map[string]string {
	switch {
	case s.V02 != nil:
		return s.V02.Metadata.BuildKit.VCS
	case s.V1 != nil:
		return s.V1.RunDetails.Metadata.BuildKit.VCS
	}
	return nil
}

// Source returns the source repository and commit the image was built from.
// A git config source (BuildKit fetched the repo itself) wins over the
// vcs:source / vcs:revision metadata, which the client declares for a local
// context (how Slipway's pipeline builds).
func (s *Statement) Source() (repo, revision string) {
	cs := s.ConfigSource()
	if cs.URI != "" {
		repo, _, _ = strings.Cut(cs.URI, "#")
		return repo, cs.Digest["sha1"]
	}
	v := s.vcs()
	return v["source"], v["revision"]
}

// SubjectDigests lists the sha256 digests of the statement's subjects.
func (s *Statement) SubjectDigests() []string {
	var out []string
	for _, sub := range s.Subject {
		if d, ok := sub.Digest["sha256"]; ok {
			out = append(out, "sha256:"+d)
		}
	}
	return out
}
