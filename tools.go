//go:build tools

// Package tools pins the libraries Slipway is built on while their first
// users are being written, so go mod tidy keeps them.
package tools

import (
	_ "github.com/Masterminds/sprig/v3"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/go-github/v60/github"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/labstack/echo/v4"
	_ "github.com/moby/buildkit/frontend/dockerfile/linter"
	_ "github.com/moby/buildkit/frontend/dockerfile/parser"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	_ "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	_ "github.com/xanzy/go-gitlab"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/kubernetes/fake"
	_ "modernc.org/sqlite"
	_ "sigs.k8s.io/yaml"
)
